#!/usr/bin/env bash
# Load benchmark of the L402 layer's paid path, on this machine:
#   bare-N  a bare axum "hello" route,
#   paid-N  the same route behind the L402 layer,
# each sent a rotating set of N distinct valid credentials (N = 1, 10,000
# and 100,000 by default): every request carries the next `Authorization`
# header of the set, bare runs included, so client cost is identical and
# the difference between bare-N and paid-N is the layer's work (verifying,
# caching, the Paid value);
#   mint-402  the layer's 402 path (every request mints an invoice on the
#             embedded dev node).
#
# Cases alternate (bare-N then paid-N) for ROUNDS rounds; the report gives
# each case's median throughput, the paid/bare ratio of each round pair with
# its spread, latency percentiles pooled over all rounds, and the server's
# CPU time per request (user + system, from /proc). A warm-up run per set
# sends every token once before the measured rounds (steady state: tokens in
# rotation are cached; the cache is bounded at 64 MiB by default).
#
# Installs wrk (Debian package) if missing. Works from any checkout and
# respects CARGO_TARGET_DIR. Not part of CI.
#
#   bash scripts/bench-serve.sh                 # 3 rounds of 10 s per case
#   ROUNDS=5 DURATION=20s SETS="1 100000" bash scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
SETS="${SETS:-1 10000 100000}"
ADDR="${BENCH_ADDR:-127.0.0.1:8499}"
export BENCH_ADDR="$ADDR"

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
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}"
work="$(mktemp -d)"
sets_gt1=""
for n in $SETS; do [[ $n -gt 1 ]] && sets_gt1="$sets_gt1 $n"; done
# shellcheck disable=SC2086
"$target_dir/release/examples/bench_server" "$work" $sets_gt1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do [[ -e "$work/ready" ]] && break; sleep 0.1; done
[[ -e "$work/ready" ]] || { echo "bench: server did not start" >&2; exit 1; }

# wrk script: each request carries the next header of the file given after
# `--`; each thread starts at its own random offset. At the end the latency
# histogram is written to $WRK_HIST ("microseconds count" lines) so that
# rounds can be pooled.
cat >"$work/rotate.lua" <<'EOF'
local lines = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
  i = math.random(#lines) - 1
end
function request()
  i = (i % #lines) + 1
  return wrk.format(nil, nil, { ["Authorization"] = lines[i] })
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

sed -n '/^function done/,$p' "$work/rotate.lua" >"$work/plain.lua"

cpu_ticks() { # the server's user+system CPU time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$server/stat"
}

run() { # name, url, lua script, [script args...]: one wrk run, appended to
        # $work/<name> as "rps non2xx server-cpu-us-per-request", histogram
        # pooled in $work/<name>.hist
    local name=$1 url=$2 script=$3
    shift 3
    local out before after
    before=$(cpu_ticks)
    out=$(WRK_HIST="$work/hist" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$script" "$url" -- "$@")
    after=$(cpu_ticks)
    cat "$work/hist" >>"$work/$name.hist"
    awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
         /^Requests\/sec:/ {rps=$2}
         /requests in/ {reqs=$1}
         /Non-2xx or 3xx responses:/ {n=$5}
         END {printf "%s %s %.2f\n", rps, (n == "" ? 0 : n), 1e6 * ticks / hz / reqs}' \
        <<<"$out" >>"$work/$name"
}

median() { # file column
    sort -g -k"$2" "$1" | awk -v c="$2" '{a[NR]=$c} END {print a[int((NR + 1) / 2)]}'
}

percentiles() { # pooled histogram file: p50 p90 p99 p99.9 in ms
    sort -n "$1" | awk '{v[NR]=$1; c[NR]=$2; t+=$2}
        END {split("50 90 99 99.9", ps, " "); s=0; k=1
             for (i=1; i<=NR; i++) { s+=c[i]
                 while (k<=4 && s >= t*ps[k]/100) { r[k]=v[i]/1000; k++ } }
             printf "p50 %.2fms p90 %.2fms p99 %.2fms p99.9 %.2fms", r[1], r[2], r[3], r[4]}'
}

echo "bench: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds, sets: $SETS, on $(nproc) cores" >&2
for n in $SETS; do
    warm=$(( n / 10000 + 3 ))
    echo "bench: warm-up, $n token(s), ${warm}s" >&2
    WRK_HIST=/dev/null wrk -t"$THREADS" -c"$CONNECTIONS" -d"${warm}s" -s "$work/rotate.lua" \
        "http://$ADDR/paid/hello" -- "$work/tokens-$n" >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
    for n in $SETS; do
        echo "bench: round $round/$ROUNDS, $n token(s)" >&2
        run "bare-$n" "http://$ADDR/hello" "$work/rotate.lua" "$work/tokens-$n"
        run "paid-$n" "http://$ADDR/paid/hello" "$work/rotate.lua" "$work/tokens-$n"
    done
    run mint-402 "http://$ADDR/mint/hello" "$work/plain.lua"
done

printf '\n%-12s %12s  %-55s %-8s %s\n' case "req/s" "latency (all rounds pooled)" non-2xx "server CPU/req"
for name in $(for n in $SETS; do echo "bare-$n paid-$n"; done) mint-402; do
    [[ -e "$work/$name" ]] || continue
    printf '%-12s %12s  %-55s %-8s %s us   (rounds: %s)\n' "$name" "$(median "$work/$name" 1)" \
        "$(percentiles "$work/$name.hist")" "$(awk '{s+=$2} END {print s}' "$work/$name")" \
        "$(median "$work/$name" 3)" "$(awk '{printf "%s ", $1}' "$work/$name")"
done
echo
for n in $SETS; do
    # Each round's paid run follows its bare run: pairing them cancels slow
    # drifts of a shared machine.
    paste -d' ' "$work/bare-$n" "$work/paid-$n" | awk '{print $4 / $1}' | sort -g |
        awk -v n="$n" '{a[NR]=$1} END {printf "paid/bare, %6s token(s): median %.3f (rounds: min %.3f, max %.3f)\n", n, a[int((NR + 1) / 2)], a[1], a[NR]}'
    awk -v n="$n" -v b="$(median "$work/bare-$n" 3)" -v p="$(median "$work/paid-$n" 3)" \
        'BEGIN { printf "  server CPU per request, %6s token(s): bare %.2f us, paid %.2f us (+%.2f us)\n", n, b, p, p - b }'
done
