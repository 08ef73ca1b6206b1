#!/usr/bin/env bash
# Load benchmark of the L402 layer, in one run on this machine:
#   1. a bare axum "hello" route,
#   2. the same route behind the L402 layer with a valid credential,
#   3. the layer's 402 path (every request mints an invoice on the dev node).
# Installs wrk (Debian package) if missing. Prints requests/s and latency
# percentiles per case and the paid/bare ratio.
#
#   bash scripts/bench-serve.sh              # 10 s per case, 64 connections
#   DURATION=30s CONNECTIONS=128 bash scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"

if ! command -v wrk >/dev/null; then
    echo "bench: installing wrk" >&2
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
    else
        sudo apt-get update -qq >/dev/null && sudo apt-get install -y -qq wrk >/dev/null
    fi
fi

echo "bench: building the bench server (release)" >&2
cargo build --release -q -p l402-server --example bench_server
cred="$(mktemp)"
target/release/examples/bench_server "$cred" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$cred"' EXIT
for _ in $(seq 1 100); do [[ -s "$cred" ]] && break; sleep 0.1; done
[[ -s "$cred" ]] || { echo "bench: server did not start" >&2; exit 1; }
auth="$(cat "$cred")"

run() { # name, url, [header]
    local name=$1 url=$2
    shift 2
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
    local rps p50 p99 non2xx
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    printf '%-28s %12s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
    echo "$rps" >"$cred.$name"
}

echo "bench: wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores" >&2
run bare http://127.0.0.1:8499/hello
run paid http://127.0.0.1:8499/paid/hello -H "Authorization: $auth"
run mint-402 http://127.0.0.1:8499/mint/hello
bare=$(cat "$cred.bare"); paid=$(cat "$cred.paid")
awk -v b="$bare" -v p="$paid" 'BEGIN { printf "paid/bare ratio: %.1f%%\n", 100 * p / b }'
rm -f "$cred".*
