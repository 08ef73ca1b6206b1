#!/usr/bin/env bash
# Debian's headless Chromium and its WebDriver (chromium-driver), which the
# dashboard's browser tests drive over WebDriver (fantoccini).
#
#   bash scripts/chromium.sh install   # apt-get install if missing (idempotent)
#   bash scripts/chromium.sh env       # install if needed, print the exports
#
# Then:  eval "$(bash scripts/chromium.sh env)"
#        L402_REQUIRE_CHROMIUM=1 cargo test -p l402-cli --test dashboard_browser
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

find_driver() { command -v chromedriver || ls /usr/bin/chromedriver 2>/dev/null || true; }
find_browser() { command -v chromium || ls /usr/bin/chromium 2>/dev/null || true; }

install() {
    if [[ -n "$(find_driver)" && -n "$(find_browser)" ]]; then
        return
    fi
    log "installing chromium and chromium-driver with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
    [[ -n "$(find_driver)" ]] || { log "error: chromedriver did not install"; exit 1; }
}

case "${1:-}" in
    install) install ;;
    env)
        install
        echo "export L402_CHROMEDRIVER=$(find_driver)"
        echo "export L402_CHROMIUM=$(find_browser)"
        ;;
    *) echo "usage: $0 install|env" >&2; exit 2 ;;
esac
