#!/usr/bin/env bash
# Installs Go 1.23 for building axo-agent, idempotently, as root. Debian 12's default
# golang-go is 1.19 (long out of security support); 1.23 comes from Debian's own
# bookworm-backports suite, the only Go source this kind of machine can reach (no Go
# download site, no module proxy: the agent uses the standard library only).
set -euo pipefail
say() { printf 'setup-go: %s\n' "$*"; }
GO=/usr/lib/go-1.23/bin/go
if [ -x "$GO" ] && "$GO" version | grep -q 'go1\.23'; then
  say "$("$GO" version) already installed"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "setup-go: run as root (it installs golang-1.23-go)" >&2; exit 1; }
. /etc/os-release
suite="${VERSION_CODENAME:-bookworm}-backports"
if ! grep -rqs -- "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat >/etc/apt/sources.list.d/axo-backports.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  say "added $suite to /etc/apt/sources.list.d/axo-backports.sources"
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t "$suite" golang-1.23-go >/dev/null
"$GO" version | grep -q 'go1\.23' || { echo "setup-go: $GO is not Go 1.23 after installing" >&2; exit 1; }
say "installed $("$GO" version)"
