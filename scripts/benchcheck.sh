#!/usr/bin/env bash
# The micro-benchmark regression check. Runs the parser, dispatch call and
# route per engine, auth and registrar benchmarks with -count 6 -benchmem,
# compares them with the baseline in benchdata/baseline.txt using
# benchstat (golang.org/x/perf), prints benchstat's table, and fails when
#   - an allocs/op median rises at all, or
#   - a sec/op median rises by more than 25% with p < 0.05, beyond the
#     slow-down every benchmark shows (a busier or slower machine).
# Usage:
#   scripts/benchcheck.sh            check (.ci/run calls it)
#   scripts/benchcheck.sh -update    rewrite the baseline; commit it with the
#                                    change that justified it
# BENCHCHECK_BENCHTIME (default 0.3s) sets -benchtime.
set -euo pipefail
cd "$(dirname "$0")/.."
base=benchdata/baseline.txt
benchtime=${BENCHCHECK_BENCHTIME:-0.3s}
out=$(mktemp)
trap 'rm -f "$out"*' EXIT

# package and the benchmarks of it that make the check
suites=(
  "./core/sip         ^Benchmark(Parse|ParseOnly|Reply200ToRegister|ForwardInvite)$"
  "./engines/native   ^BenchmarkRegisterRoute$"
  "./engines/lua      ^Benchmark(RegisterRoute|KSRCall|TableCallFromGo)$"
  "./engines/golua    ^Benchmark(RegisterRoute|KSRCall)$"
  "./engines/jsdt     ^Benchmark(RegisterRoute|KSRCall)$"
  "./engines/python   ^Benchmark(RegisterRoute|KSRCall)$"
  "./modules/auth     ^BenchmarkResponseMD5$"
  "./cmd/kemi         ^BenchmarkRegisterAuth(Native|Lua)$"
)
# measure FILE SUITE...: run the suites' benchmarks into FILE.
measure() {
  local file=$1 s pkg re
  shift
  for s in "$@"; do
    read -r pkg re <<<"$s"
    echo "benchcheck: $pkg $re" >&2
    go test "$pkg" -run '^$' -bench "$re" -benchmem -count 6 -benchtime "$benchtime" | grep -v '^ok\|^PASS' >>"$file"
  done
}
measure "$out" "${suites[@]}"

if [ "${1:-}" = "-update" ]; then
  cp "$out" "$base"
  echo "benchcheck: baseline written to $base"
  exit 0
fi
[ -f "$base" ] || { echo "benchcheck: no $base (scripts/benchcheck.sh -update makes it)"; exit 1; }

bs() { (cd benchdata/parsers && go tool benchstat "$@"); }
bs baseline="../../$base" new="$out"

# benchstat's CSV: "pkg: P" lines, a header ",sec/op,CI,..." per unit, then
# name,base,CI,new,CI,vs base,P. A slower or busier machine slows every
# benchmark alike; a regression slows some. So each time is judged against
# the median new/base ratio of all of them (the machine factor): a
# benchmark fails when it is more than 25% slower than that factor says.
# judge FILE [FACTOR]: compare FILE with the baseline; print the failures
# and write "pkg name" of each into FILE.failed; FACTOR, when given,
# replaces the measured machine factor (a re-run of a few benchmarks).
judge() {
  bs -format csv baseline="../../$base" new="$1" 2>/dev/null >"$1.csv"
  awk -F, -v given="${2:-}" -v failed="$1.failed" '
  /^pkg: /          { pkg = substr($0, 6); next }
  $1 == "" && $2 != "" { unit = $2; next }
  $1 == "" || $1 == "geomean" || NF < 7 { next }
  {
    name = pkg "." $1
    if ($2 == "" || $4 == "") { if (given == "") print "benchcheck: " name " is only on one side (new or removed benchmark)"; next }
    if (unit == "allocs/op" && $4 + 0 > $2 + 0) {
      printf "benchcheck: FAIL %s: allocs/op %s -> %s\n", name, $2, $4; bad = 1
      print pkg, $1 > failed
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
    else printf "benchcheck: machine factor (median new/base time over %d benchmarks): %.2f\n", n, factor
    print factor > (failed ".factor")
    for (i = 1; i <= n; i++) {
      if (ratio[i] / factor > 1.25 && pval[i] < 0.05) {
        printf "benchcheck: FAIL %s: time %s (p=%.3f), %.0f%% over the machine factor\n", tname[i], delta[i], pval[i], (ratio[i] / factor - 1) * 100; bad = 1
        print tpkg[i], tbench[i] > failed
      }
    }
    exit bad
  }
  ' "$1.csv"
}

if judge "$out"; then
  echo "benchcheck: no regression against $base"
  exit 0
fi
# This machine is noisy: a burst can slow one benchmark's six runs. A
# regression is real when the failing benchmarks fail again on their own.
echo "benchcheck: measuring the failing benchmarks again to confirm"
again=()
while read -r pkg bench; do
  name=${bench%-*} # without -GOMAXPROCS
  top=${name%%/*}
  re="^Benchmark$top\$"
  [ "$name" != "$top" ] && re="$re/^${name#*/}\$"
  again+=("./${pkg#github.com/kemi-sip/kemi/} $re")
done <"$out.failed"
measure "$out.again" "${again[@]}"
bs baseline="../../$base" new="$out.again" 2>/dev/null | grep -v '^ *$' | head -40 || true
if judge "$out.again" "$(cat "$out.failed.factor")"; then
  echo "benchcheck: not confirmed on a second measure: no regression against $base"
  exit 0
fi
echo "benchcheck: regression against $base, confirmed (scripts/benchcheck.sh -update after a justified change)"
exit 1
