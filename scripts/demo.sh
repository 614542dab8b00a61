#!/usr/bin/env bash
# The main job, end to end, with the axo CLI: a session over a copy of the sample project,
# a command run inside it, the file it wrote read on the host, and the session removed.
# Uses a private config in a temporary directory, so the user's own axo config is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AXO_CONFIG="$work/config.json" AXO_OWNER="demo-$$"
cli="$PWD/apps/cli/dist/axo.js"
axo() { node "$cli" "$@"; }
step() { printf '\n\033[1m» %s\033[0m\n' "$*"; }

cp -r examples/sample-project "$work/sample-project"
cd "$work/sample-project"

step "axo image bootstrap --no-debian   (a local image: no registry needed)"
axo image bootstrap --no-debian
step "axo doctor"
axo doctor
step "axo up   (the repository asks; the policy decides)"
axo up --id demo --no-provision
step "axo exec demo -- sh scripts/report.sh"
axo exec demo -- sh scripts/report.sh
step "on the host: $PWD/report.txt"
cat report.txt
step "axo ls"
axo ls
step "axo down demo"
time axo down demo
