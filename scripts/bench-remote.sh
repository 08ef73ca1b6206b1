#!/usr/bin/env bash
# Load benchmark of the remote layer (L402Layer::remote, l402-express's
# model) against the local layer and a bare route, on this machine:
#   bare          a bare axum "hello" route,
#   local-paid    the same route behind the local layer (its own dev node
#                 and keyring), one valid credential on every request,
#   remote-paid   the same route behind the remote layer, one valid
#                 credential on every request (verified once by the
#                 producer, then served from the layer's token cache: this
#                 is the steady state, no round trip);
#   local-402     the local layer's 402 path: every request mints an invoice
#                 on the app's embedded dev node and a macaroon;
#   remote-402    the remote layer's 402 path: every request is a round trip
#                 to the producer's POST /api/l402/challenges (a real
#                 `l402 serve` with its dev node and SQLite store, another
#                 process), which mints the invoice and records the challenge.
# The paid cases run with CONNECTIONS connections (throughput); the 402
# cases with one connection, one request at a time (latency: remote-402
# minus local-402 is what the round trip and the producer's bookkeeping add).
#
# Cases alternate for ROUNDS rounds; the report gives each case's median
# throughput, pooled latency percentiles, the server's CPU time per request,
# and remote/local paid ratios per round. The producer and the app share
# this machine's cores with wrk: absolute numbers are this machine's.
#
# Installs wrk (Debian package) if missing. Works from any checkout and
# respects CARGO_TARGET_DIR. Not part of CI.
#
#   bash scripts/bench-remote.sh                 # 3 rounds of 10 s per case
#   ROUNDS=5 DURATION=20s bash scripts/bench-remote.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
ADDR="${BENCH_ADDR:-127.0.0.1:5131}"
PRODUCER_ADDR="${BENCH_PRODUCER_ADDR:-127.0.0.1:5132}"
export BENCH_ADDR="$ADDR"

if ! command -v wrk >/dev/null; then
    echo "bench: installing wrk" >&2
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
    else
        sudo apt-get update -qq >/dev/null && sudo apt-get install -y -qq wrk >/dev/null
    fi
fi
command -v jq >/dev/null || { echo "bench: needs jq" >&2; exit 1; }

echo "bench: building l402 and the bench app (release)" >&2
cargo build --release -q -p l402-cli --bin l402
cargo build --release -q -p l402-server --features remote --example bench_remote
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The producer: a real `l402 serve` (dev node, SQLite), one merchant, one key.
l402() { "$target_dir/release/l402" --data-dir "$work/producer" --json "$@"; }
l402 merchant create bench >/dev/null
key=$(l402 merchant key create 1 --label bench | jq -r .key)
L402_LOG=error "$target_dir/release/l402" --data-dir "$work/producer" --json \
    serve --no-demo --listen "$PRODUCER_ADDR" >"$work/producer.out" &
producer=$!
pids+=("$producer")
for _ in $(seq 1 600); do [[ -s "$work/producer.out" ]] && break; sleep 0.1; done
[[ -s "$work/producer/dev-wallet.json" ]] || { echo "bench: the producer did not start" >&2; exit 1; }

PRODUCER_URL="http://$PRODUCER_ADDR" PRODUCER_KEY="$key" \
PRODUCER_WALLET_URL="$(jq -r .url "$work/producer/dev-wallet.json")" \
PRODUCER_WALLET_KEY="$(jq -r .admin_key "$work/producer/dev-wallet.json")" \
    "$target_dir/release/examples/bench_remote" "$work" &
app=$!
pids+=("$app")
for _ in $(seq 1 600); do [[ -e "$work/ready" ]] && break; sleep 0.1; done
[[ -e "$work/ready" ]] || { echo "bench: the app did not start" >&2; exit 1; }

cat >"$work/auth.lua" <<'EOF'
local header
function init(args)
  for line in io.lines(args[1]) do header = line end
end
function request()
  return wrk.format(nil, nil, { ["Authorization"] = header })
end
function done(summary, latency, requests)
  local out = io.open(os.getenv("WRK_HIST"), "w")
  for k = 1, #latency do
    local v, c = latency(k)
    out:write(v, " ", c, "\n")
  end
  out:close()
end
EOF
sed -n '/^function done/,$p' "$work/auth.lua" >"$work/plain.lua"

cpu_ticks() { # user+system CPU time of a process so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

run() { # name connections url lua [args...]: one wrk run, appended to
        # $work/<name> as "rps non2xx app-cpu-us/req producer-cpu-us/req"
    local name=$1 conns=$2 url=$3 script=$4
    shift 4
    local out a0 a1 p0 p1 threads=$THREADS
    [[ $conns -lt $threads ]] && threads=$conns
    a0=$(cpu_ticks "$app"); p0=$(cpu_ticks "$producer")
    out=$(WRK_HIST="$work/hist" wrk -t"$threads" -c"$conns" -d"$DURATION" -s "$script" "$url" -- "$@")
    a1=$(cpu_ticks "$app"); p1=$(cpu_ticks "$producer")
    cat "$work/hist" >>"$work/$name.hist"
    awk -v at=$((a1 - a0)) -v pt=$((p1 - p0)) -v hz="$(getconf CLK_TCK)" '
         /^Requests\/sec:/ {rps=$2}
         /requests in/ {reqs=$1}
         /Non-2xx or 3xx responses:/ {n=$5}
         END {printf "%s %s %.2f %.2f\n", rps, (n == "" ? 0 : n), 1e6 * at / hz / reqs, 1e6 * pt / hz / reqs}' \
        <<<"$out" >>"$work/$name"
}

median() { # file column
    sort -g -k"$2" "$1" | awk -v c="$2" '{a[NR]=$c} END {print a[int((NR + 1) / 2)]}'
}

percentiles() { # pooled histogram file: p50 p90 p99 in ms
    sort -n "$1" | awk '{v[NR]=$1; c[NR]=$2; t+=$2}
        END {split("50 90 99", ps, " "); s=0; k=1
             for (i=1; i<=NR; i++) { s+=c[i]
                 while (k<=3 && s >= t*ps[k]/100) { r[k]=v[i]/1000; k++ } }
             printf "p50 %.2fms p90 %.2fms p99 %.2fms", r[1], r[2], r[3]}'
}

echo "bench: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (402 cases: -c1), $ROUNDS rounds, on $(nproc) cores" >&2
WRK_HIST=/dev/null wrk -t1 -c"$CONNECTIONS" -d2s -s "$work/auth.lua" "http://$ADDR/remote/hello" -- "$work/tokens-remote" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    echo "bench: round $round/$ROUNDS" >&2
    run bare "$CONNECTIONS" "http://$ADDR/hello" "$work/auth.lua" "$work/tokens-local"
    run local-paid "$CONNECTIONS" "http://$ADDR/local/hello" "$work/auth.lua" "$work/tokens-local"
    run remote-paid "$CONNECTIONS" "http://$ADDR/remote/hello" "$work/auth.lua" "$work/tokens-remote"
    run local-402 1 "http://$ADDR/local-mint/hello" "$work/plain.lua"
    run remote-402 1 "http://$ADDR/remote-mint/hello" "$work/plain.lua"
done

printf '\n%-12s %10s  %-40s %-8s %s\n' case "req/s" "latency (all rounds pooled)" non-2xx "CPU/req: app, producer"
for name in bare local-paid remote-paid local-402 remote-402; do
    printf '%-12s %10s  %-40s %-8s %s us, %s us   (rounds: %s)\n' "$name" "$(median "$work/$name" 1)" \
        "$(percentiles "$work/$name.hist")" "$(awk '{s+=$2} END {print s}' "$work/$name")" \
        "$(median "$work/$name" 3)" "$(median "$work/$name" 4)" "$(awk '{printf "%s ", $1}' "$work/$name")"
done
echo
paste -d' ' "$work/local-paid" "$work/remote-paid" | awk '{print $5 / $1}' | sort -g |
    awk '{a[NR]=$1} END {printf "remote-paid/local-paid: median %.3f (rounds: min %.3f, max %.3f)\n", a[int((NR + 1) / 2)], a[1], a[NR]}'
paste -d' ' "$work/bare" "$work/remote-paid" | awk '{print $5 / $1}' | sort -g |
    awk '{a[NR]=$1} END {printf "remote-paid/bare:       median %.3f (rounds: min %.3f, max %.3f)\n", a[int((NR + 1) / 2)], a[1], a[NR]}'
awk -v l="$(median "$work/local-402" 1)" -v r="$(median "$work/remote-402" 1)" \
    'BEGIN { printf "402 latency, one request at a time: local %.2f ms, remote %.2f ms: the round trip adds %.2f ms\n", 1000 / l, 1000 / r, 1000 / r - 1000 / l }'
