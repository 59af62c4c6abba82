#!/usr/bin/env bash
# Fuzz every parser for FUZZTIME each (default 200000x: executions, CI's
# short run; a count rather than a duration because Go 1.26's fuzzer can
# fail a duration-bounded run with "context deadline exceeded" at its end,
# golang/go#75804):
# the SIP message, URIs, digest headers, the config file, pseudo-variable
# names and formats, transformations. A failure leaves its input in testdata/fuzz/ of the
# package, where `go test` replays it from then on.
#   scripts/fuzz.sh            FUZZTIME=20000000x scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-200000x}"
for target in "core/sip FuzzParse" "core/sip FuzzURI" "core/sip FuzzDigest" "core/cfg FuzzParse" "core/router FuzzPV" "core/router FuzzTransform" "modules/topoh FuzzNetInOut"; do
  set -- $target
  echo "== $1 $2 ($t)"
  go test "./$1" -run '^$' -fuzz "^$2\$" -fuzztime "$t" 2>&1 | grep -E '^(fuzz: elapsed: [0-9hms]+, execs: [0-9]+ \(|PASS|FAIL|ok|---|\s+)' | tail -4
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
done
