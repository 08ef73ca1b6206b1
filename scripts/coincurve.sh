#!/usr/bin/env bash
# A cached virtualenv with coincurve (Python bindings to libsecp256k1), the
# independent signer the LNURL-auth tests sign k1 challenges with (the
# wallet's side of LUD-04: DER ECDSA over the raw 32 bytes of k1).
#
#   bash scripts/coincurve.sh install   # create/refresh the virtualenv (idempotent)
#   bash scripts/coincurve.sh python    # install if needed, print its python path
#
# Then:  export L402_COINCURVE_PYTHON="$(bash scripts/coincurve.sh python)"
#        L402_REQUIRE_COINCURVE=1 cargo test -p l402-producer --test lnurl_auth
#
# Knobs (env): L402_COINCURVE_VENV (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/l402/coincurve-venv), L402_COINCURVE_PYTHON_BIN
# (the interpreter that creates the venv, default python3).
set -euo pipefail

VENV="${L402_COINCURVE_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/coincurve-venv}"
VERSION="21.0.0"

log() { echo "coincurve.sh: $*" >&2; }

installed() {
    [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("coincurve"))' 2>/dev/null)" == "$VERSION" ]]
}

install() {
    if installed; then
        return
    fi
    local py="${L402_COINCURVE_PYTHON_BIN:-python3}"
    log "installing coincurve $VERSION into $VENV with $py"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --only-binary=:all: "coincurve==$VERSION"
    installed || { log "error: coincurve $VERSION did not install"; exit 1; }
}

case "${1:-}" in
    install) install ;;
    python) install; echo "$VENV/bin/python" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
