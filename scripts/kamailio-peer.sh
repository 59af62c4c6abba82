#!/usr/bin/env bash
# kemibench against real Kamailio 5.6 (Debian packages), on the same
# config and KEMI scripts kemi runs (scripts/bench/), for BENCHMARKS.md's
# side-by-side figures. Not run by CI. Needs:
#   apt-get install kamailio kamailio-lua-modules kamailio-python3-modules \
#     kamailio-extra-modules kamailio-sqlite-modules
# Usage: scripts/kamailio-peer.sh [ENGINES] [kemibench options...]
#   ENGINES: comma list of native,lua,jsdt,python (default: all four)
#   e.g. scripts/kamailio-peer.sh native,lua -m 1000 -r 50 --report reports
#        scripts/kamailio-peer.sh native --max
# Kamailio logs each request_route's time (latency_cfg_log, -A
# WITH_LATENCY_LOG) and kemibench reads them back (--route-log); not with
# --max, where a log line per request would slow Kamailio down.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kamailio >/dev/null || { echo "kamailio not installed (see the head of $0)" >&2; exit 1; }
engines=${1:-native,lua,jsdt,python}
shift || true
port=${KAMAILIO_PEER_PORT:-5080}
children=${KAMAILIO_PEER_CHILDREN:-8}
work=$(mktemp -d /tmp/kamailio-peer.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/kemibench" ./cmd/kemibench
"$work/kemibench" users "sqlite:///$work/subscribers.db" 1000 "$work/users.csv"
kamailio -v | head -1

for e in ${engines//,/ }; do
  case $e in
    native) defs=() ;;
    lua) defs=(-A WITH_LUA) ;;
    jsdt) defs=(-A WITH_JSDT) ;;
    python) defs=(-A WITH_PYTHON) ;;
    *) echo "unknown engine $e (native, lua, jsdt, python)" >&2; exit 2 ;;
  esac
  log=$work/kamailio-$e.log
  latency=(-A WITH_LATENCY_LOG)
  routelog=(--route-log "$log")
  case " $* " in *" --max "*) latency=(); routelog=() ;; esac
  kamailio -f scripts/bench/kamailio.cfg -DD -E -n "$children" -l "udp:127.0.0.1:$port" -w scripts/bench \
    "${latency[@]}" -A "DBURL=\"sqlite:///$work/subscribers.db\"" "${defs[@]}" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do grep -q "INFO: <core>.*init_tcp\|Listening on\|main process\|INFO: rr" "$log" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  if ! kill -0 "$pid" 2>/dev/null; then echo "kamailio ($e) did not start:" >&2; tail -20 "$log" >&2; exit 1; fi
  echo "== Kamailio $e"
  args=(run --target "127.0.0.1:$port" --users-file "$work/users.csv" "${routelog[@]}" --target-pid "$pid" --label "kamailio-$e" "$@")
  "$work/kemibench" "${args[@]}" || echo "kemibench exit $? (Kamailio $e)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
