#!/usr/bin/env bash
# The official MCP TypeScript SDK (npm @modelcontextprotocol/sdk, pinned by
# scripts/mcp-ts/package-lock.json) and scripts/mcp-ts/client.mjs, a small
# agent on it, installed under a cache directory with npm ci.
#
#   bash scripts/mcp-ts.sh install   # npm ci into the cache (idempotent)
#   bash scripts/mcp-ts.sh client    # install if needed, print the client's path
#
# Then:  export L402_MCP_TS_CLIENT="$(bash scripts/mcp-ts.sh client)"
#        L402_REQUIRE_MCP_TS=1 cargo test -p l402-cli --test mcp_ts
#
# Knobs (env): L402_MCP_TS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/l402/mcp-ts).
# Needs node >= 18 and npm.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${L402_MCP_TS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/mcp-ts}"

log() { echo "mcp-ts.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

install() {
    command -v node >/dev/null || die "node is required"
    command -v npm >/dev/null || die "npm is required"
    mkdir -p "$CACHE"
    if ! cmp -s "$REPO/scripts/mcp-ts/package-lock.json" "$CACHE/package-lock.json" ||
        [[ ! -d "$CACHE/node_modules/@modelcontextprotocol/sdk" ]]; then
        log "installing @modelcontextprotocol/sdk (npm ci) into $CACHE"
        cp "$REPO/scripts/mcp-ts/package.json" "$REPO/scripts/mcp-ts/package-lock.json" "$CACHE/"
        (cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) >&2
    fi
    # ES modules resolve packages beside the importing file: run it from there.
    cp "$REPO/scripts/mcp-ts/client.mjs" "$CACHE/client.mjs"
}

case "${1:-}" in
    install) install ;;
    client) install; echo "$CACHE/client.mjs" ;;
    *) echo "usage: $0 install|client" >&2; exit 2 ;;
esac
