#!/usr/bin/env bash
# The l402kit PyPI package's FastAPI server (l402kit's `l402_required`
# decorator), self-hosted on an LNbits FakeWallet: a real third-party L402
# seller whose "macaroon" is unsigned base64 JSON and whose tokens are
# single-use. Used by crates/l402-cli/tests/dialects_l402kit.rs (l402 get)
# and the `l402 check` tests.
#
#   bash scripts/l402kit.sh install   # create/refresh the cached virtualenv only
#   bash scripts/l402kit.sh python    # print the virtualenv's python (install first)
#   bash scripts/l402kit.sh serve     # run the server in the foreground; prints
#                                     # {"event":"listening","port":N,"url":...}
#   bash scripts/l402kit.sh start     # run it in the background on L402KIT_PORT
#                                     # (default 5119); prints its URL
#   bash scripts/l402kit.sh stop      # stop the background server
#
# serve/start need a running LNbits and its merchant invoice key:
#   bash scripts/lnbits.sh start && source "$(bash scripts/lnbits.sh envfile)"
# (L402_LNBITS_URL, L402_LNBITS_MERCHANT_INVOICE_KEY). Routes: GET /premium
# (price L402KIT_PRICE_SATS, default 10), GET /free. Pay it through the same
# LNbits (FakeWallet settles only invoices it minted), e.g.
#   l402 get --lnbits-url "$L402_LNBITS_URL" \
#       --lnbits-admin-key "$L402_LNBITS_PAYER_ADMIN_KEY" http://127.0.0.1:5119/premium
#
# No hosted l402kit API is called: the LNbits provider mints invoices on the
# LNbits given, and l402kit verifies credentials locally (sha256(preimage)
# against the JSON's hash, its exp, and an in-memory set of used preimages).
#
# Knobs (env): L402_L402KIT_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/l402/l402kit-venv),
# L402_L402KIT_PYTHON_BIN (default: first of python3.12 python3.11 python3),
# L402_L402KIT_STATE (default $repo/target/l402kit, for start/stop).
# For tests only: it binds 127.0.0.1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${L402_L402KIT_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/l402kit-venv}"
STATE="${L402_L402KIT_STATE:-$REPO/target/l402kit}"
PIDFILE="$STATE/l402kit.pid"
LOG="$STATE/l402kit.log"
# Pinned: the versions the tests were written against.
L402KIT_VERSION="1.10.1"
PINS=("l402kit==$L402KIT_VERSION" "fastapi==0.163.2" "uvicorn==0.54.0" "httpx==0.28.1")

log() { echo "l402kit.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

pick_python() {
    if [[ -n "${L402_L402KIT_PYTHON_BIN:-}" ]]; then echo "$L402_L402KIT_PYTHON_BIN"; return; fi
    for p in python3.12 python3.11 python3; do
        if command -v "$p" >/dev/null 2>&1 &&
            "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3,11) else 1)' 2>/dev/null; then
            echo "$p"; return
        fi
    done
    die "l402kit $L402KIT_VERSION needs Python >= 3.11"
}

installed() {
    [[ -x "$VENV/bin/python" ]] &&
        [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("l402kit"))' 2>/dev/null)" == "$L402KIT_VERSION" ]] &&
        "$VENV/bin/python" -c 'import fastapi, uvicorn' 2>/dev/null
}

install() {
    if installed; then
        log "using cached virtualenv $VENV (l402kit $L402KIT_VERSION)"
        return
    fi
    local py start
    py="$(pick_python)"
    start=$(date +%s)
    log "installing ${PINS[*]} into $VENV with $py"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "${PINS[@]}"
    log "installed in $(( $(date +%s) - start ))s"
}

need_lnbits() {
    [[ -n "${L402_LNBITS_URL:-}" && -n "${L402_LNBITS_MERCHANT_INVOICE_KEY:-}" ]] ||
        die "L402_LNBITS_URL and L402_LNBITS_MERCHANT_INVOICE_KEY are required (bash scripts/lnbits.sh start && source \"\$(bash scripts/lnbits.sh envfile)\")"
}

serve() {
    need_lnbits
    install
    exec "$VENV/bin/python" "$REPO/scripts/l402kit_server.py"
}

running() {
    [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start() {
    need_lnbits
    install
    if running; then log "already running (pid $(cat "$PIDFILE"))"; return; fi
    mkdir -p "$STATE"
    local port="${L402KIT_PORT:-5119}"
    L402KIT_PORT="$port" setsid "$VENV/bin/python" "$REPO/scripts/l402kit_server.py" >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    local i
    for i in $(seq 1 60); do
        if grep -q '"listening"' "$LOG" 2>/dev/null; then
            echo "http://127.0.0.1:$port"
            return
        fi
        running || { cat "$LOG" >&2; die "the server exited"; }
        sleep 0.5
    done
    cat "$LOG" >&2
    die "the server did not come up in 30 s"
}

stop() {
    if running; then
        local pid
        pid="$(cat "$PIDFILE")"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    else
        log "not running"
    fi
    rm -rf "$STATE"
}

case "${1:-}" in
    install) install ;;
    python) installed || die "not installed: bash $0 install"; echo "$VENV/bin/python" ;;
    serve) serve ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|python|serve|start|stop" >&2; exit 2 ;;
esac
