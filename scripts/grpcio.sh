#!/usr/bin/env bash
# A cached virtualenv with grpcio from PyPI: the real gRPC server and client
# the proxy's gRPC test puts `l402 serve` between (scripts/grpcio/*.py).
#
#   bash scripts/grpcio.sh install   # create/refresh the virtualenv (idempotent)
#   bash scripts/grpcio.sh python    # install if needed, print its python path
#
# Then:  export L402_GRPCIO_PYTHON="$(bash scripts/grpcio.sh python)"
#        L402_REQUIRE_GRPCIO=1 cargo test -p l402-cli --test proxy_grpc
#
# Knobs (env): L402_GRPCIO_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/l402/grpcio-venv),
# L402_GRPCIO_PYTHON_BIN (the interpreter that creates the venv, default python3).
set -euo pipefail

VENV="${L402_GRPCIO_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/grpcio-venv}"
VERSION="1.85.1"

log() { echo "grpcio.sh: $*" >&2; }

installed() {
    [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("grpcio"))' 2>/dev/null)" == "$VERSION" ]]
}

install() {
    if installed; then
        return
    fi
    local py="${L402_GRPCIO_PYTHON_BIN:-python3}"
    log "installing grpcio $VERSION into $VENV with $py"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "grpcio==$VERSION"
    installed || { log "error: grpcio $VERSION did not install"; exit 1; }
}

case "${1:-}" in
    install) install ;;
    python) install; echo "$VENV/bin/python" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
