#!/usr/bin/env bash
# The agent's Go checks, as CI runs them: gofmt, go vet, go test (with the fuzz target's
# seed corpus and the golden frames shared with the TypeScript side).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=go-env.sh
source scripts/go-env.sh
unformatted=$("$(dirname "$GO")/gofmt" -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:" >&2
  echo "$unformatted" >&2
  exit 1
fi
"$GO" vet ./...
"$GO" test -count=1 ./...
