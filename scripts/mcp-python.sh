#!/usr/bin/env bash
# A cached virtualenv with the official MCP Python SDK (`mcp` from PyPI), the
# real MCP client the `l402 mcp` end-to-end test drives over stdio.
#
#   bash scripts/mcp-python.sh install   # create/refresh the virtualenv (idempotent)
#   bash scripts/mcp-python.sh python    # install if needed, print its python path
#
# Then:  export L402_MCP_PYTHON="$(bash scripts/mcp-python.sh python)"
#        L402_REQUIRE_MCP_PYTHON=1 cargo test -p l402-cli --test mcp_python
#
# Knobs (env): L402_MCP_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/l402/mcp-venv),
# L402_MCP_PYTHON_BIN (the interpreter that creates the venv, default python3;
# mcp 2.x needs Python >= 3.10).
set -euo pipefail

VENV="${L402_MCP_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/mcp-venv}"
VERSION="2.3.0"

log() { echo "mcp-python.sh: $*" >&2; }

installed() {
    [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" == "$VERSION" ]]
}

install() {
    if installed; then
        return
    fi
    local py="${L402_MCP_PYTHON_BIN:-python3}"
    log "installing mcp $VERSION into $VENV with $py"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "mcp==$VERSION"
    installed || { log "error: mcp $VERSION did not install"; exit 1; }
}

case "${1:-}" in
    install) install ;;
    python) install; echo "$VENV/bin/python" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
