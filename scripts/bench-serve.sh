#!/usr/bin/env bash
# Load benchmark of the L402 layer, in one run on this machine:
#   1. a bare axum "hello" route,
#   2. the same route behind the L402 layer with a valid credential
#      (1 and 2 get the identical request, Authorization header included, so
#      the difference between them is the layer's work),
#   3. the layer's 402 path (every request mints an invoice on the dev node).
# Installs wrk (Debian package) if missing. Prints requests/s and latency
# percentiles per case and the paid/bare ratio.
#
# The cases alternate for ROUNDS rounds and the median round of each is
# reported, so that a noisy moment of a shared machine does not decide the
# ratio.
#
#   bash scripts/bench-serve.sh              # 3 rounds of 10 s per case, 64 connections
#   ROUNDS=5 DURATION=30s CONNECTIONS=128 bash scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
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

cpu_ticks() { # the server's user+system CPU time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$server/stat"
}

run() { # name, url, [header]: one wrk run, appended to $cred.<name> as
        # "rps p50 p99 non2xx server-cpu-us-per-request"
    local name=$1 url=$2
    shift 2
    local out before after
    before=$(cpu_ticks)
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
    after=$(cpu_ticks)
    awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
         /^Requests\/sec:/ {rps=$2} $1 == "50%" {p50=$2} $1 == "99%" {p99=$2}
         /requests in/ {reqs=$1}
         /Non-2xx or 3xx responses:/ {n=$5}
         END {printf "%s %s %s %s %.2f\n", rps, p50, p99, (n == "" ? 0 : n), 1e6 * ticks / hz / reqs}' \
        <<<"$out" >>"$cred.$name"
}

median() { # name: prints the median round's line
    sort -n "$cred.$1" | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}'
}

echo "bench: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds, on $(nproc) cores" >&2
for round in $(seq 1 "$ROUNDS"); do
    echo "bench: round $round/$ROUNDS" >&2
    run bare http://127.0.0.1:8499/hello -H "Authorization: $auth"
    run paid http://127.0.0.1:8499/paid/hello -H "Authorization: $auth"
    run mint-402 http://127.0.0.1:8499/mint/hello
done
for name in bare paid mint-402; do
    read -r rps p50 p99 non2xx cpu <<<"$(median "$name")"
    printf '%-10s %12s req/s   p50 %-9s p99 %-9s non-2xx %-7s server CPU %s us/req   (rounds: %s)\n' \
        "$name" "$rps" "$p50" "$p99" "$non2xx" "$cpu" "$(awk '{printf "%s ", $1}' "$cred.$name")"
done
bare=$(median bare | cut -d' ' -f1); paid=$(median paid | cut -d' ' -f1)
awk -v b="$bare" -v p="$paid" 'BEGIN { printf "paid/bare ratio of the medians: %.1f%%\n", 100 * p / b }'
# Each round's paid run follows its bare run: their ratio is less exposed to
# slow drifts of a shared machine.
paste -d' ' "$cred.bare" "$cred.paid" | awk '{print 100 * $6 / $1}' | sort -n |
    awk '{a[NR]=$1} END {printf "paid/bare ratio, median of the rounds: %.1f%%\n", a[int((NR + 1) / 2)]}'
sort -n -k5 "$cred.bare" | awk '{a[NR]=$5} END {print a[int((NR + 1) / 2)]}' >"$cred.cpu-bare"
sort -n -k5 "$cred.paid" | awk '{a[NR]=$5} END {print a[int((NR + 1) / 2)]}' >"$cred.cpu-paid"
awk -v b="$(cat "$cred.cpu-bare")" -v p="$(cat "$cred.cpu-paid")" \
    'BEGIN { printf "server CPU per request (medians): bare %.2f us, paid %.2f us (+%.2f us, %.1f%% of bare throughput at equal CPU)\n", b, p, p - b, 100 * b / p }'
rm -f "$cred".*
