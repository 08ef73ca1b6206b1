#!/usr/bin/env bash
# A cached virtualenv with pymacaroons (the Python macaroon library), the
# third-party decoder the `l402 token attenuate` tests check sub-tokens with.
#
#   bash scripts/pymacaroons.sh install   # create/refresh the virtualenv (idempotent)
#   bash scripts/pymacaroons.sh python    # install if needed, print its python path
#
# Then:  export L402_PYMACAROONS_PYTHON="$(bash scripts/pymacaroons.sh python)"
#        L402_REQUIRE_PYMACAROONS=1 cargo test -p l402-cli --test token_attenuate
#
# Knobs (env): L402_PYMACAROONS_VENV (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/l402/pymacaroons-venv), L402_PYMACAROONS_PYTHON_BIN
# (the interpreter that creates the venv, default python3).
set -euo pipefail

VENV="${L402_PYMACAROONS_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/pymacaroons-venv}"
VERSION="0.13.0"

log() { echo "pymacaroons.sh: $*" >&2; }

installed() {
    [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pymacaroons"))' 2>/dev/null)" == "$VERSION" ]]
}

install() {
    if installed; then
        return
    fi
    local py="${L402_PYMACAROONS_PYTHON_BIN:-python3}"
    log "installing pymacaroons $VERSION into $VENV with $py"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "pymacaroons==$VERSION"
    installed || { log "error: pymacaroons $VERSION did not install"; exit 1; }
}

case "${1:-}" in
    install) install ;;
    python) install; echo "$VENV/bin/python" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
