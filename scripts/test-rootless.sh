#!/usr/bin/env bash
# Runs the core integration tests again as an unprivileged user with rootless podman
# (vitest project "rootless"): start, exec, tasks, terminals, reaping, hardening, the CLI
# and axo-server. Run as root after the root suite (it uses the builds that made); the user
# comes from `scripts/setup-podman.sh --rootless USER` (bootstrap creates axo-rootless).
# In CI a missing user or an unreadable checkout fails loudly; elsewhere it skips and says why.
# Files run one at a time: one user's rootless containers share its nproc budget.
set -euo pipefail
cd "$(dirname "$0")/.."
user="${AXO_ROOTLESS_USER:-axo-rootless}"
ci=0
case "${CI:-}" in true | 1) ci=1 ;; esac
skip() {
  if [ $ci -eq 1 ]; then
    echo "test-rootless: cannot run in CI: $*" >&2
    exit 1
  fi
  echo "test-rootless: skipping: $*"
  exit 0
}
[ "$(id -u)" = 0 ] || skip "run as root (it switches to $user)"
id "$user" >/dev/null 2>&1 || skip "no user $user (run: bash scripts/setup-podman.sh --rootless $user)"
repo=$(pwd)
if ! runuser -u "$user" -- test -r "$repo/package.json" -a -x "$repo/node_modules"; then
  # A checkout under a private directory (root's home, say): test a readable copy of it.
  copy="/tmp/axo-rootless-$(id -u "$user")-checkout"
  echo "test-rootless: $user cannot read $repo; copying it to $copy"
  rm -rf "$copy"
  cp -a "$repo" "$copy"
  chmod -R a+rX "$copy"
  repo=$copy
fi
node_bin=$(dirname "$(command -v node)")
runuser -u "$user" -- test -x "$node_bin/node" || skip "$user cannot run $node_bin/node (see scripts/toolchain.sh)"
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
echo "test-rootless: running the rootless project as $user (uid $uid)"
exec runuser -u "$user" -- env -i \
  HOME="$home" USER="$user" LOGNAME="$user" \
  XDG_RUNTIME_DIR="/run/user/$uid" \
  PATH="$node_bin:/usr/local/bin:/usr/bin:/bin" \
  CI="${CI:-}" TERM="${TERM:-dumb}" \
  AXO_VITEST_CACHE_DIR="/tmp/axo-vitest-$uid" \
  bash -c "cd '$repo' && exec node node_modules/vitest/vitest.mjs run --project rootless --configLoader runner --no-file-parallelism"
