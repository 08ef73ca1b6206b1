#!/usr/bin/env bash
# Run a throwaway LNbits 1.6.2 (FakeWallet, SQLite) on 127.0.0.1 for the
# l402-lightning integration tests.
#
#   bash scripts/lnbits.sh install   # create/refresh the cached virtualenv only
#   bash scripts/lnbits.sh start     # install if needed, start, first-install,
#                                    # create merchant + payer wallets, credit payer,
#                                    # write the env file (keys are not printed)
#   bash scripts/lnbits.sh env       # print the export lines of the running instance
#   bash scripts/lnbits.sh stop      # stop the whole process group, delete temp data
#
# Then:  source "$(bash scripts/lnbits.sh envfile)"  (or eval "$(bash scripts/lnbits.sh env)")
#        L402_REQUIRE_LNBITS=1 cargo test -p l402-lightning
#
# Knobs (env): L402_LNBITS_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/l402/lnbits-venv),
# L402_LNBITS_PORT (default 5002), L402_LNBITS_STATE (default $repo/target/lnbits),
# L402_LNBITS_PYTHON (default: first of python3.12 python3.11 python3.10 python3).
#
# This instance is for tests only: it holds fake money, its superuser password is
# random, and anyone who can reach it can read paid preimages. It binds loopback only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${L402_LNBITS_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/lnbits-venv}"
PORT="${L402_LNBITS_PORT:-5002}"
STATE="${L402_LNBITS_STATE:-$REPO/target/lnbits}"
ENVFILE="$STATE/lnbits.env"
PIDFILE="$STATE/lnbits.pid"
LOG="$STATE/lnbits.log"
VERSION="1.6.2"
URL="http://127.0.0.1:$PORT"

log() { echo "lnbits.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

pick_python() {
    if [[ -n "${L402_LNBITS_PYTHON:-}" ]]; then echo "$L402_LNBITS_PYTHON"; return; fi
    for p in python3.12 python3.11 python3.10 python3; do
        if command -v "$p" >/dev/null 2>&1 &&
            "$p" -c 'import sys; sys.exit(0 if (3,10) <= sys.version_info[:2] < (3,13) else 1)' 2>/dev/null; then
            echo "$p"; return
        fi
    done
    die "LNbits $VERSION needs Python >= 3.10 and < 3.13"
}

install() {
    if [[ -x "$VENV/bin/lnbits" ]] &&
        [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("lnbits"))' 2>/dev/null)" == "$VERSION" ]]; then
        log "using cached virtualenv $VENV (lnbits $VERSION)"
        return
    fi
    local py start
    py="$(pick_python)"
    start=$(date +%s)
    log "installing lnbits $VERSION into $VENV with $py (first run only; takes a few minutes)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # bitstring<5: LNbits' pinned bolt11 imports ConstBitStream, removed in bitstring 5.
    "$VENV/bin/python" -m pip install --quiet "lnbits==$VERSION" 'bitstring<5'
    log "installed in $(( $(date +%s) - start ))s"
}

site_packages() {
    "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

running() {
    [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# http METHOD PATH [JSON] [extra curl args...] -> prints body, fails on non-2xx
http() {
    local method="$1" path="$2" body="${3:-}"
    shift 3 || shift $#
    local args=(-sS --max-time 20 -X "$method" -H 'Content-Type: application/json' "$@")
    if [[ -n "$body" ]]; then args+=(--data "$body"); fi
    local out code
    out="$(curl "${args[@]}" -w '\n%{http_code}' "$URL$path")" || die "curl $method $path failed"
    code="${out##*$'\n'}"
    out="${out%$'\n'*}"
    if [[ "$code" != 2* ]]; then die "$method $path -> HTTP $code: $out"; fi
    printf '%s' "$out"
}

json() { "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

start() {
    command -v curl >/dev/null || die "curl is required"
    if running; then
        log "already running (pid $(cat "$PIDFILE")); env in $ENVFILE (load it with: eval \"\$(bash $0 env)\")"
        return
    fi
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/" || true)" != 000 ]]; then
        die "something already answers on $URL; set L402_LNBITS_PORT to a free port"
    fi
    install
    rm -rf "$STATE"
    mkdir -p "$STATE/data"
    local site secret
    site="$(site_packages)"
    secret="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))')"

    log "starting LNbits $VERSION on $URL (FakeWallet, SQLite in $STATE/data)"
    (
        cd "$site" # LNbits mounts lnbits/static relative to the working directory
        export LNBITS_DATA_FOLDER="$STATE/data"
        export LNBITS_BACKEND_WALLET_CLASS=FakeWallet
        export FAKE_WALLET_SECRET="$secret"
        export LNBITS_ADMIN_UI=true
        export HOST=127.0.0.1
        export PORT="$PORT"
        export LNBITS_BASEURL="$URL/"
        export AUTH_HTTPS_ONLY=false
        export ENABLE_LOG_TO_FILE=false
        export LNBITS_RATE_LIMIT_NO=100000
        export LNBITS_EXTENSIONS_MANIFESTS='[]'
        export LNBITS_WASM_EXTENSIONS_MANIFESTS='[]'
        export LNBITS_PRICE_AGGREGATOR_ENABLED=false
        export LNBITS_EXCHANGE_RATE_PROVIDERS='[]'
        # setsid: its own process group, so `stop` can kill lnbits and its uvicorn child.
        exec setsid "$VENV/bin/lnbits" --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1
    ) &
    echo $! >"$PIDFILE"
    # Any failure from here on: show the log and stop what was started.
    trap 'if [[ "${ready:-}" != 1 ]]; then log "startup failed; log tail:"; tail -30 "$LOG" >&2 || true; stop; fi' EXIT

    local i code=""
    for i in $(seq 1 120); do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/api/v1/health" || true)"
        if [[ "$code" == 200 || "$code" == 307 ]]; then break; fi
        if ! running; then tail -50 "$LOG" >&2; die "LNbits exited during startup (log: $LOG)"; fi
        sleep 1
    done
    [[ "$code" == 200 || "$code" == 307 ]] || { tail -50 "$LOG" >&2; die "LNbits did not come up in 120s"; }

    # First install: create the super user; its bearer token credits balances.
    local password token merchant payer
    password="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')"
    token="$(http PUT /api/v1/auth/first_install \
        "{\"username\":\"l402admin\",\"password\":\"$password\",\"password_repeat\":\"$password\"}" | json access_token)"

    merchant="$(http POST /api/v1/account '{"name":"l402-merchant"}')"
    payer="$(http POST /api/v1/account '{"name":"l402-payer"}')"
    local payer_id
    payer_id="$(printf '%s' "$payer" | json id)"
    http PUT /users/api/v1/balance "{\"id\":\"$payer_id\",\"amount\":1000000}" \
        -H "Authorization: Bearer $token" >/dev/null

    {
        echo "export L402_LNBITS_URL=$URL"
        echo "export L402_LNBITS_MERCHANT_INVOICE_KEY=$(printf '%s' "$merchant" | json inkey)"
        echo "export L402_LNBITS_MERCHANT_ADMIN_KEY=$(printf '%s' "$merchant" | json adminkey)"
        echo "export L402_LNBITS_PAYER_INVOICE_KEY=$(printf '%s' "$payer" | json inkey)"
        echo "export L402_LNBITS_PAYER_ADMIN_KEY=$(printf '%s' "$payer" | json adminkey)"
    } >"$ENVFILE"
    chmod 600 "$ENVFILE"
    ready=1
    log "ready: merchant and payer wallets created, payer credited 1,000,000 sat"
    # The keys are not printed: they would land in CI logs. `env` prints them.
    log "env written to $ENVFILE (mode 600); load it with: source $ENVFILE"
}

stop() {
    if [[ -f "$PIDFILE" ]]; then
        local pid
        pid="$(cat "$PIDFILE")"
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping process group $pid"
            kill -TERM -- "-$pid" 2>/dev/null || true
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    else
        log "not running"
    fi
    rm -rf "$STATE"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    env) [[ -f "$ENVFILE" ]] && cat "$ENVFILE" || die "not started" ;;
    envfile) echo "$ENVFILE" ;;
    *) echo "usage: $0 install|start|stop|env|envfile" >&2; exit 2 ;;
esac
