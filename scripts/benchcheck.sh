#!/usr/bin/env bash
# The micro-benchmark regression check: the parser, the UDP receive path,
# dispatch call and route per engine, auth and registrar benchmarks, the
# SQLite subscriber lookup (row cache and SQLite), -count 6 -benchmem, compared
# with benchstat (golang.org/x/perf). benchdata/baseline.txt holds the
# baseline's figures; the commit that last wrote it is the baseline's code.
# The check builds both (the baseline's code in a git worktree) and runs
# them alternately, six rounds, so that a busy host slows both alike, then
# prints benchstat's table and fails when
#   - an allocs/op median rises at all (against the committed figures too:
#     allocation counts do not depend on the machine), or
#   - a sec/op median rises by more than 25% with p < 0.05, beyond the
#     slow-down all the benchmarks show (the machine factor),
# and the failing benchmarks, measured again the same way, fail again.
# Without git history it compares with the committed figures alone.
# Usage:
#   scripts/benchcheck.sh            check (.ci/run calls it)
#   scripts/benchcheck.sh -update    rewrite the baseline; commit it with the
#                                    change that justified it
# BENCHCHECK_BENCHTIME (default 0.3s) sets -benchtime.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=benchdata/baseline.txt
benchtime=${BENCHCHECK_BENCHTIME:-0.3s}
tmp=$(mktemp -d)
cleanup() {
  [ -d "$tmp/old" ] && git worktree remove --force "$tmp/old" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

# package and the benchmarks of it that make the check
suites=(
  "./core/sip         ^Benchmark(Parse|ParseOnly|Reply200ToRegister|ForwardInvite)$"
  "./core/transport   ^BenchmarkUDPRoundTrip$"
  "./engines/native   ^BenchmarkRegisterRoute$"
  "./engines/lua      ^Benchmark(RegisterRoute|KSRCall|TableCallFromGo)$"
  "./engines/golua    ^Benchmark(RegisterRoute|KSRCall)$"
  "./engines/jsdt     ^Benchmark(RegisterRoute|KSRCall)$"
  "./engines/python   ^Benchmark(RegisterRoute|KSRCall)$"
  "./modules/auth     ^BenchmarkResponseMD5$"
  "./core/db          ^BenchmarkQueryStrings$"
  "./cmd/kemi         ^BenchmarkRegisterAuth(Native|Lua)$"
)

# build DIR TAG: each suite's test binary of the tree at DIR, as $tmp/TAG-N.
build() {
  local dir=$1 tag=$2 i=0 s pkg re
  for s in "${suites[@]}"; do
    read -r pkg re <<<"$s"
    if [ -d "$dir/$pkg" ]; then
      (cd "$dir" && go test -c -o "$tmp/$tag-$i" "$pkg")
    fi
    i=$((i + 1))
  done
}

# run1 DIR TAG FILE [N RE]...: one run (-count 1) of the benchmarks, all the
# suites or suite N's matching RE, appended to FILE.
run1() {
  local dir=$1 tag=$2 file=$3 pkg re i
  shift 3
  local picks=("$@")
  if [ ${#picks[@]} -eq 0 ]; then
    for i in "${!suites[@]}"; do
      read -r pkg re <<<"${suites[$i]}"
      picks+=("$i" "$re")
    done
  fi
  for ((k = 0; k < ${#picks[@]}; k += 2)); do
    i=${picks[$k]} re=${picks[$((k + 1))]}
    read -r pkg _ <<<"${suites[$i]}"
    [ -x "$tmp/$tag-$i" ] || continue
    (cd "$dir/$pkg" && "$tmp/$tag-$i" -test.run '^$' -test.bench "$re" -test.benchmem -test.count 1 \
      -test.benchtime "$benchtime") | grep -v '^ok\|^PASS' >>"$file"
  done
}

# measure OLDFILE NEWFILE [N RE]...: six rounds, the baseline's code and
# this tree alternately (this tree alone without a baseline worktree).
measure() {
  local old=$1 new=$2 r
  shift 2
  for r in 1 2 3 4 5 6; do
    echo "benchcheck: round $r/6" >&2
    run1 "$root" new "$new" "$@"
    if [ -d "$tmp/old" ]; then run1 "$tmp/old" old "$old" "$@"; fi
  done
}

echo "benchcheck: building this tree's benchmarks" >&2
build "$root" new
if [ "${1:-}" = "-update" ]; then
  : >"$tmp/new.txt"
  measure "$tmp/old.txt" "$tmp/new.txt"
  cp "$tmp/new.txt" "$base"
  echo "benchcheck: baseline written to $base (commit it with the change that justified it)"
  exit 0
fi
[ -f "$base" ] || { echo "benchcheck: no $base (scripts/benchcheck.sh -update makes it)"; exit 1; }

basecommit=$(git log -1 --format=%H -- "$base" 2>/dev/null || true)
if [ -n "$basecommit" ] && git worktree add --detach "$tmp/old" "$basecommit" >/dev/null 2>&1; then
  echo "benchcheck: the baseline's code is $basecommit; building it" >&2
  build "$tmp/old" old
else
  echo "benchcheck: no git history: comparing with the committed figures only" >&2
fi
: >"$tmp/old.txt"
: >"$tmp/new.txt"
measure "$tmp/old.txt" "$tmp/new.txt"
ref="$tmp/old.txt"
[ -s "$ref" ] || ref="$root/$base"

bs() { (cd benchdata/parsers && go tool benchstat "$@"); }
bs baseline="$ref" new="$tmp/new.txt"

# judge OLD NEW [FACTOR]: benchstat's CSV of OLD against NEW; prints the
# failures and writes "suite-index bench" of each into NEW.failed. FACTOR,
# when given, replaces the measured machine factor (a re-run of a few).
# The CSV has "pkg: P" lines, a header ",sec/op,CI,..." per unit, then
# name,old,CI,new,CI,vs base,P. A busy machine slows every benchmark; a
# regression slows some: each time is judged against the median new/old
# ratio (the machine factor), never below 1.
judge() {
  bs -format csv old="$1" new="$2" 2>/dev/null >"$2.csv"
  local pkgs
  pkgs=$(for s in "${suites[@]}"; do read -r p _ <<<"$s"; printf '%s ' "${p#./}"; done)
  awk -F, -v given="${3:-}" -v failed="$2.failed" -v pkgs="$pkgs" '
  BEGIN { n = split(pkgs, pl, " "); for (i = 1; i <= n; i++) idx["github.com/kemi-sip/kemi/" pl[i]] = i - 1; n = 0 }
  /^pkg: /          { pkg = substr($0, 6); next }
  $1 == "" && $2 != "" { unit = $2; next }
  $1 == "" || $1 == "geomean" || NF < 7 { next }
  {
    name = pkg "." $1
    if ($2 == "" || $4 == "") { if (given == "") print "benchcheck: " name " is only on one side (new or removed benchmark)"; next }
    if (unit == "allocs/op" && $4 + 0 > $2 + 0) {
      printf "benchcheck: FAIL %s: allocs/op %s -> %s\n", name, $2, $4; bad = 1
      print idx[pkg], $1 > failed
    }
    if (unit == "sec/op" && $2 + 0 > 0) {
      n++; tname[n] = name; tpkg[n] = pkg; tbench[n] = $1; ratio[n] = ($4 + 0) / ($2 + 0); delta[n] = $6
      p = $7; sub(/^p=/, "", p); sub(/ .*/, "", p); pval[n] = p + 0
    }
  }
  END {
    for (i = 1; i <= n; i++) sorted[i] = ratio[i]
    for (i = 2; i <= n; i++) { v = sorted[i]; for (j = i - 1; j >= 1 && sorted[j] > v; j--) sorted[j + 1] = sorted[j]; sorted[j + 1] = v }
    factor = n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
    if (factor < 1) factor = 1   # a faster machine does not excuse a slower benchmark
    if (given != "") factor = given
    else if (n > 0) printf "benchcheck: machine factor (median new/old time over %d benchmarks): %.2f\n", n, factor
    print factor > (failed ".factor")
    for (i = 1; i <= n; i++) {
      if (ratio[i] / factor > 1.25 && pval[i] < 0.05) {
        printf "benchcheck: FAIL %s: time %s (p=%.3f), %.0f%% over the machine factor\n", tname[i], delta[i], pval[i], (ratio[i] / factor - 1) * 100; bad = 1
        print idx[tpkg[i]], tbench[i] > failed
      }
    }
    exit bad
  }
  ' "$2.csv"
}

# Allocations against the committed figures as well: they do not depend on
# the machine, so the file is a fair reference for them.
allocs_ok=1
if [ "$ref" != "$root/$base" ]; then
  bs -format csv old="$root/$base" new="$tmp/new.txt" 2>/dev/null | awk -F, '
    $1 == "" && $2 != "" { unit = $2; next }
    /^pkg: / { pkg = substr($0, 6); next }
    unit == "allocs/op" && $1 != "" && $1 != "geomean" && $2 != "" && $4 != "" && $4 + 0 > $2 + 0 {
      printf "benchcheck: FAIL %s.%s: allocs/op %s (committed baseline) -> %s\n", pkg, $1, $2, $4; bad = 1
    }
    END { exit bad }' || allocs_ok=0
fi

if judge "$ref" "$tmp/new.txt" && [ $allocs_ok = 1 ]; then
  echo "benchcheck: no regression against the baseline"
  exit 0
fi
[ $allocs_ok = 1 ] || { echo "benchcheck: allocations rose against $base"; exit 1; }
# A burst on a noisy host can still slow one side's runs. A regression is
# real when the failing benchmarks fail again, measured again alone.
echo "benchcheck: measuring the failing benchmarks again to confirm"
again=()
while read -r i bench; do
  name=${bench%-*} # without -GOMAXPROCS
  top=${name%%/*}
  re="^Benchmark$top\$"
  [ "$name" != "$top" ] && re="$re/^${name#*/}\$"
  again+=("$i" "$re")
done <"$tmp/new.txt.failed"
: >"$tmp/old2.txt"
: >"$tmp/new2.txt"
measure "$tmp/old2.txt" "$tmp/new2.txt" "${again[@]}"
ref2="$tmp/old2.txt"
[ -s "$ref2" ] || ref2="$root/$base"
if judge "$ref2" "$tmp/new2.txt" "$(cat "$tmp/new.txt.failed.factor")"; then
  echo "benchcheck: not confirmed on a second measure: no regression against the baseline"
  exit 0
fi
echo "benchcheck: regression against the baseline, confirmed (scripts/benchcheck.sh -update after a justified change)"
exit 1
