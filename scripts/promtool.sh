#!/usr/bin/env bash
# promtool (Debian's `prometheus` package, 2.42), which the metrics tests run
# as `promtool check metrics` on the real /metrics output of `l402 serve`.
# The binary is taken out of the package (apt-get download + dpkg -x) into a
# cache directory: no Prometheus server is installed or started.
#
#   bash scripts/promtool.sh install   # fetch and unpack it (idempotent)
#   bash scripts/promtool.sh path      # install if needed, print promtool's path
#
# Then:  export L402_PROMTOOL="$(bash scripts/promtool.sh path)"
#        L402_REQUIRE_PROMTOOL=1 cargo test -p l402-cli --test metrics_serve
#
# A promtool already on PATH is used as it is. Knob (env): L402_PROMTOOL_DIR
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/l402/promtool).
set -euo pipefail

DIR="${L402_PROMTOOL_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/l402/promtool}"
BIN="$DIR/root/usr/bin/promtool"

log() { echo "promtool.sh: $*" >&2; }

found() {
    if command -v promtool >/dev/null 2>&1; then
        command -v promtool
    elif [[ -x "$BIN" ]]; then
        echo "$BIN"
    else
        return 1
    fi
}

install() {
    if found >/dev/null; then
        return
    fi
    log "fetching Debian's prometheus package into $DIR"
    rm -rf "$DIR"
    mkdir -p "$DIR/deb"
    if ! (cd "$DIR/deb" && apt-get download -qq prometheus 2>/dev/null); then
        apt-get update -qq
        (cd "$DIR/deb" && apt-get download -qq prometheus)
    fi
    dpkg -x "$DIR"/deb/prometheus_*.deb "$DIR/root"
    rm -rf "$DIR/deb"
    [[ -x "$BIN" ]] || { log "error: no promtool in the package"; exit 1; }
}

case "${1:-}" in
    install) install ;;
    path) install; found ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
