#!/usr/bin/env bash
# Compares core/sip's parser with github.com/emiago/sipgo's on the same
# messages, reading the same fields (benchdata/parsers). Runs the two
# interleaved, COUNT times each, so that a noisy machine slows both alike,
# then prints benchstat's comparison (sipgo is the base). Usage:
#   scripts/bench-parsers.sh [COUNT]        (default 10)
# Raw results stay in benchdata/parsers/{kemi,sipgo}.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10}
out=benchdata/parsers
: >"$out/kemi.txt"
: >"$out/sipgo.txt"
for i in $(seq "$count"); do
  printf '\rrun %d/%d' "$i" "$count" >&2
  go test ./core/sip -run '^$' -bench '^BenchmarkParse$' -benchmem -count 1 -benchtime 100000x | grep -v '^ok\|^PASS' >>"$out/kemi.txt"
  (cd "$out" && go test -run '^$' -bench '^BenchmarkParse$' -benchmem -count 1 -benchtime 20000x | grep -v '^ok\|^PASS') >>"$out/sipgo.txt"
done
echo >&2
cd "$out" && go tool benchstat -ignore pkg sipgo=sipgo.txt kemi=kemi.txt
