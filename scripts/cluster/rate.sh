#!/bin/bash
# The registration rate a cluster holds against one node's, on one machine:
# three kemi nodes (scripts/proxy/kamailio.cfg, digest auth, usrloc db_mode 3
# on PostgreSQL) behind the dispatcher node (dispatcher.cfg); sipp registers
# through the dispatcher, then to node 1 alone, at each rate for 10 s, and
# the CPU each part used in the step is printed (PostgreSQL, the nodes, the
# dispatcher).
#
#   go build -o /tmp/kemi ./cmd/kemi
#   PGADMIN=postgres://postgres:kemi@127.0.0.1/postgres scripts/cluster/rate.sh 1000 2000 2500 3000
set -u
cd "$(dirname "$0")/../.."
KEMI=${KEMI:-/tmp/kemi}
PGADMIN=${PGADMIN:-postgres://postgres:kemi@127.0.0.1/postgres}
PGURL=${PGADMIN%/*}/kemi_cluster
W=$(mktemp -d)
psql -q "$PGADMIN" -c "DROP DATABASE IF EXISTS kemi_cluster WITH (FORCE)" -c "CREATE DATABASE kemi_cluster" 2>/dev/null
"$KEMI" db init "$PGURL" >/dev/null
psql -q "$PGURL" -c "INSERT INTO subscriber (username, domain, password, ha1, ha1b)
  SELECT 'user'||lpad(i::text,4,'0'), 'kemi.test', 'pass'||lpad(i::text,4,'0'),
         md5('user'||lpad(i::text,4,'0')||':kemi.test:pass'||lpad(i::text,4,'0')), '' FROM generate_series(1,9999) i" >/dev/null
{ echo SEQUENTIAL; for i in $(seq 1 9999); do printf "user%04d;kemi.test;pass%04d;127.0.0.1:5999\n" "$i" "$i"; done; } > "$W/users.csv"
D=(-A WITH_AUTH -A 'AUTH_SECRET="s"' -A WITH_USRLOCDB -A USRLOC_DBMODE=3 -A "DBURL=\"$PGURL\"" -A 'SIP_DOMAIN="kemi.test"')
for p in 5161 5162 5163; do
  "$KEMI" -f scripts/proxy/kamailio.cfg -l "udp:127.0.0.1:$p" "${D[@]}" > "$W/node$p.log" 2>&1 &
done
printf '1 sip:127.0.0.1:5161\n1 sip:127.0.0.1:5162\n1 sip:127.0.0.1:5163\n' > "$W/ds.list"
"$KEMI" -f scripts/cluster/dispatcher.cfg -l udp:127.0.0.1:5170 -A "DS_LIST=\"$W/ds.list\"" -A DS_PROBE_INTERVAL=2 > "$W/ds.log" 2>&1 &
trap 'pkill -f "$KEMI -f scripts/" 2>/dev/null; rm -rf "$W"' EXIT
sleep 2

# cpu prints the CPU seconds each part has used so far.
cpu() {
  python3 - "$KEMI" <<'PY'
import os, sys
kemi = sys.argv[1]
groups = {"postgres": lambda c: c.startswith("postgres"), "nodes": lambda c: kemi + " -f scripts/proxy" in c,
          "dispatcher": lambda c: "scripts/cluster/dispatcher.cfg" in c}
out = []
for name, match in groups.items():
    t = 0
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if match(open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode()):
                f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                t += int(f[11]) + int(f[12])
        except OSError:
            pass
    out.append(f"{name}={t / os.sysconf('SC_CLK_TCK'):.2f}")
print(" ".join(out))
PY
}

step() { # target rate
  local target=$1 rate=$2
  local n=$((rate * 10)) c0
  psql -q "$PGURL" -c "DELETE FROM location" >/dev/null
  rm -f "$W/stat.csv"
  c0=$(cpu)
  sipp -sf scripts/sipp/register-contact.xml -inf "$W/users.csv" -r "$rate" -m "$n" -l 2000 -i 127.0.0.1 -p 0 \
    -buff_size 4194304 -nostdin -timeout 60s -trace_stat -stf "$W/stat.csv" "$target" >/dev/null 2>&1
  python3 - "$W/stat.csv" "$target" "$rate" "$c0" "$(cpu)" <<'PY'
import sys
lines = open(sys.argv[1]).read().strip().split("\n")
head, last = lines[0].split(";"), lines[-1].split(";")
g = lambda k: last[head.index(k)]
before = dict(kv.split("=") for kv in sys.argv[4].split())
after = dict(kv.split("=") for kv in sys.argv[5].split())
used = " ".join(f"{k} {float(after[k]) - float(before[k]):.1f}s" for k in after)
print(f"{sys.argv[2]:>16} {sys.argv[3]:>5}/s asked: {g('SuccessfulCall(C)')} ok, {g('FailedCall(C)')} failed, "
      f"{g('Retransmissions(C)')} retransmissions, {float(g('CallRate(C)')):.0f}/s achieved; CPU in the step: {used}")
PY
}

rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000 2000 2500 3000)
for r in "${rates[@]}"; do
  step 127.0.0.1:5170 "$r" # through the dispatcher to the three nodes
  step 127.0.0.1:5161 "$r" # node 1 alone
done
