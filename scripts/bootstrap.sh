#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine (as root) for axo development, idempotently:
# Node 24 and pnpm (from the npm registry), Go 1.23 (Debian's bookworm-backports: it builds
# the in-container agent), podman and the local test images (busybox and Debian), and the
# workspace's dependencies. Afterwards, `scripts/pnpm <script>` runs any root script.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=toolchain.sh
source scripts/toolchain.sh
echo "bootstrap: node $(node --version), pnpm $(pnpm --version)"
# The rootless tests run as this unprivileged user (scripts/test-rootless.sh).
bash scripts/setup-podman.sh --debian --rootless "${AXO_ROOTLESS_USER:-axo-rootless}" "$@"
bash scripts/setup-go.sh
# Test tools: the CLI's terminal test drives `axo shell` in tmux; the server's web
# terminal test drives Debian's Chromium (no browser download works here).
missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "bootstrap: installed ${missing[*]}"
fi
pnpm install --frozen-lockfile
