# shellcheck shell=bash
# Sourced: finds Go >= 1.23 (Debian's golang-1.23-go lives in /usr/lib/go-1.23) and makes
# every go command offline: standard library only, no module proxy, no toolchain download.
axo_find_go() {
  local candidate
  for candidate in "${AXO_GO:-}" "$(command -v go 2>/dev/null)" /usr/lib/go-1.23/bin/go /usr/local/go/bin/go; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    if "$candidate" version 2>/dev/null | grep -Eq 'go1\.(2[3-9]|[3-9][0-9])'; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}
if ! GO=$(axo_find_go); then
  echo "@axo/agent: Go 1.23 or newer is required to build the agent." >&2
  echo "  Debian 12: add bookworm-backports and apt-get install golang-1.23-go (scripts/bootstrap.sh does this)." >&2
  exit 1
fi
export GO GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOTELEMETRY=off CGO_ENABLED=0
