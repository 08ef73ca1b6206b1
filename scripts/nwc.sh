#!/usr/bin/env bash
# The Nostr Wallet Connect test stack for l402-lightning's NWC client: a real
# relay (PyPI nostr-relay 1.14, SQLite, 127.0.0.1 only) and the wallet
# service of Alby's JS SDK (npm @getalby/sdk 7.0.0, NWCWalletService) run by
# scripts/nwc/service.mjs, which the tests start themselves against a
# wallet API they choose (the dev node's HTTP mode, or LNbits).
#
#   bash scripts/nwc.sh install   # the relay's virtualenv and the SDK (npm ci), cached
#   bash scripts/nwc.sh start     # install if needed, start the relay, write the env file
#   bash scripts/nwc.sh env       # print the export lines of the running relay
#   bash scripts/nwc.sh stop      # stop the relay, delete its temporary data
#
# Then:  eval "$(bash scripts/nwc.sh env)"
#        L402_REQUIRE_NWC=1 cargo test -p l402-lightning --test nwc
#
# Knobs (env): L402_NWC_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/l402/nwc),
# L402_NWC_RELAY_PORT (default 5141), L402_NWC_STATE (default $repo/target/nwc),
# L402_NWC_PYTHON (default: first of python3.12 python3.11 python3.10 python3).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${L402_NWC_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/nwc}"
VENV="$CACHE/relay-venv"
NPM_DIR="$CACHE/npm"
PORT="${L402_NWC_RELAY_PORT:-5141}"
STATE="${L402_NWC_STATE:-$REPO/target/nwc}"
ENVFILE="$STATE/nwc.env"
PIDFILE="$STATE/relay.pid"
LOG="$STATE/relay.log"
RELAY_VERSION="1.14"
URL="ws://127.0.0.1:$PORT"

log() { echo "nwc.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

pick_python() {
    if [[ -n "${L402_NWC_PYTHON:-}" ]]; then echo "$L402_NWC_PYTHON"; return; fi
    for p in python3.12 python3.11 python3.10 python3; do
        if command -v "$p" >/dev/null 2>&1 &&
            "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3,9) else 1)' 2>/dev/null; then
            echo "$p"; return
        fi
    done
    die "nostr-relay needs Python >= 3.9"
}

install() {
    command -v node >/dev/null || die "node is required (the wallet service is Node.js)"
    command -v npm >/dev/null || die "npm is required"
    if [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nostr-relay"))' 2>/dev/null)" != "$RELAY_VERSION" ]]; then
        log "installing nostr-relay $RELAY_VERSION into $VENV"
        rm -rf "$VENV"
        mkdir -p "$CACHE"
        "$(pick_python)" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet "nostr-relay==$RELAY_VERSION"
    fi
    # The SDK at the versions the lock file pins; reinstalled when it changes.
    mkdir -p "$NPM_DIR"
    if ! cmp -s "$REPO/scripts/nwc/package-lock.json" "$NPM_DIR/package-lock.json" ||
        [[ ! -d "$NPM_DIR/node_modules/@getalby/sdk" ]]; then
        log "installing @getalby/sdk (npm ci) into $NPM_DIR"
        cp "$REPO/scripts/nwc/package.json" "$REPO/scripts/nwc/package-lock.json" "$NPM_DIR/"
        (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    # ES modules resolve packages beside the importing file: run the service from there.
    cp "$REPO/scripts/nwc/service.mjs" "$NPM_DIR/service.mjs"
}

running() {
    [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

write_env() {
    {
        echo "export L402_NWC_RELAY_URL=$URL"
        echo "export L402_NWC_NODE=$(command -v node)"
        echo "export L402_NWC_SERVICE=$NPM_DIR/service.mjs"
    } >"$ENVFILE"
}

start() {
    install
    if running; then
        write_env
        log "relay already running (pid $(cat "$PIDFILE")); env in $ENVFILE"
        return
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "something already listens on 127.0.0.1:$PORT; set L402_NWC_RELAY_PORT to a free port"
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE"
    cat >"$STATE/relay.yaml" <<EOF
DEBUG: false
relay_name: l402 test relay
relay_description: loopback relay for l402's NWC tests
storage:
  sqlalchemy.url: sqlite+aiosqlite:///$STATE/relay.sqlite3
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
verification:
  nip05_verification: disabled
gunicorn:
  bind: 127.0.0.1:$PORT
  workers: 1
  loglevel: warning
  reload: false
authentication:
  enabled: false
message_timeout: 1800
subscription_limit: 64
max_limit: 6000
EOF
    log "starting nostr-relay $RELAY_VERSION on $URL (SQLite in $STATE)"
    (
        cd "$STATE"
        exec setsid "$VENV/bin/nostr-relay" -c "$STATE/relay.yaml" serve --use-uvicorn >"$LOG" 2>&1
    ) &
    echo $! >"$PIDFILE"
    local i
    for i in $(seq 1 60); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
        if ! running; then tail -30 "$LOG" >&2; die "the relay exited during startup (log: $LOG)"; fi
        sleep 0.5
    done
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { tail -30 "$LOG" >&2; stop; die "the relay did not come up in 30s"; }
    write_env
    log "ready; load the env with: eval \"\$(bash $0 env)\""
}

stop() {
    if [[ -f "$PIDFILE" ]]; then
        local pid
        pid="$(cat "$PIDFILE")"
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping process group $pid"
            kill -TERM -- "-$pid" 2>/dev/null || true
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
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
    *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
