#!/usr/bin/env bash
# Builds the static agent for linux/amd64 and linux/arm64 into bin/ (stripped, no cgo,
# reproducible paths). The TypeScript entry (src/index.ts) returns these paths.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=go-env.sh
source scripts/go-env.sh
mkdir -p bin
version=$(node -p "require('./package.json').version" 2>/dev/null || echo dev)
for arch in amd64 arm64; do
  out="bin/axo-agent-linux-$arch"
  GOOS=linux GOARCH=$arch "$GO" build -trimpath -buildvcs=false \
    -ldflags="-s -w -X main.version=$version" -o "$out.partial" ./cmd/axo-agent
  mv "$out.partial" "$out"
done
echo "@axo/agent: built $(ls bin | tr '\n' ' ')with $("$GO" version | cut -d' ' -f3)"
