#!/usr/bin/env bash
# Load benchmark of the producer API through the real `l402 serve` binary.
# Which cases touch the store (the last column says it on each line):
#   1. challenges: POST /api/l402/challenges, every request with a fresh
#      X-Idempotency-Key. TOUCHES THE STORE on every request: the
#      idempotency claim (one atomic insert) before the invoice is created,
#      then the challenge and the claim's completion in one transaction.
#   2. verify: POST /api/l402/challenges/verify of one paid token. Does NOT
#      touch the store per request: verification reads no database; the
#      payment is recorded once (first valid verification), the counts are
#      kept in memory and flushed once a second.
#   3. kit-invoice: l402kit's POST /api/invoice (anonymous; rate limit off
#      for the bench). TOUCHES THE STORE, batched: each challenge waits for
#      the group-commit transaction that records it with the others queued
#      at the same time (bounded queue; 503 store_busy past it).
# On SQLite (the default store) and, when L402_BENCH_DATABASE_URL (or
# L402_TEST_DATABASE_URL) is set, on PostgreSQL (a fresh schema).
#
#   bash scripts/bench-producer.sh                  # 10 s per case, 64 connections
#   DURATION=30s CONNECTIONS=128 bash scripts/bench-producer.sh
#   L402_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bash scripts/bench-producer.sh
#
# Uses wrk (Debian package `wrk`), curl and jq. Other work on the machine
# skews the figures: the script prints `uptime` before each run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PG_URL="${L402_BENCH_DATABASE_URL:-${L402_TEST_DATABASE_URL:-}}"
TARGET="${CARGO_TARGET_DIR:-target}"

for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt-get install $tool)" >&2; exit 1; }
done

echo "bench: building l402 (release)" >&2
cargo build --release -q -p l402-cli
bin="$TARGET/release/l402"

work="$(mktemp -d)"
server=""
cleanup() {
    [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/challenge.lua" <<'EOF'
local counter = 0
local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end
function init(args)
    math.randomseed(os.time() + tid)
    prefix = tostring(tid) .. "-" .. tostring(math.random(1, 1000000000))
end
wrk.method = "POST"
wrk.body = '{"resource":"/bench/weather","priceSats":10,"description":"bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("L402_BENCH_KEY")
request = function()
    counter = counter + 1
    wrk.headers["X-Idempotency-Key"] = prefix .. "-" .. counter
    return wrk.format(nil, "/api/l402/challenges")
end
EOF

cat >"$work/kit.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"amountSats":10}'
wrk.headers["Content-Type"] = "application/json"
request = function()
    return wrk.format(nil, "/api/invoice")
end
EOF

printf '[producer]\nrate_limit_per_minute = 0\n' >"$work/bench.toml"

cat >"$work/verify.lua" <<'EOF'
wrk.method = "POST"
wrk.body = os.getenv("L402_BENCH_VERIFY_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("L402_BENCH_KEY")
request = function()
    return wrk.format(nil, "/api/l402/challenges/verify")
end
EOF

run() { # store-name case-name script url
    local store=$1 name=$2 script=$3 url=$4 out rps p50 p99 non2xx
    echo "bench: $(uptime)" >&2
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    local touches
    case "$name" in
        challenges) touches="store: every request (claim + record)" ;;
        kit-invoice) touches="store: every request, batched" ;;
        *) touches="store: no (in-memory counts, flushed 1/s)" ;;
    esac
    printf '%-9s %-12s %10s req/s   p50 %-9s p99 %-9s non-2xx %-6s %s\n' "$store" "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$touches"
}

bench_store() { # name, extra env...
    local name=$1
    shift
    local data="$work/$name"
    mkdir -p "$data"
    env "$@" L402_LOG=error "$bin" --data-dir "$data" --json merchant create bench >/dev/null
    key=$(env "$@" "$bin" --data-dir "$data" --json merchant key create 1 | jq -r .key)
    env "$@" L402_LOG=error "$bin" --data-dir "$data" --json serve --config "$work/bench.toml" --listen 127.0.0.1:0 >"$work/$name.out" &
    server=$!
    for _ in $(seq 1 200); do [[ -s "$work/$name.out" ]] && break; sleep 0.1; done
    local base
    base=$(head -n1 "$work/$name.out" | jq -r .url)
    [[ "$base" == http* ]] || { echo "bench: server did not start" >&2; exit 1; }

    # One paid token to verify, paid through the dev node's wallet API.
    local challenge invoice macaroon wallet_url admin preimage
    challenge=$(curl -sf "$base/api/l402/challenges" -H "X-API-Key: $key" -H 'Content-Type: application/json' \
        -d '{"resource":"/bench/weather","priceSats":10}')
    invoice=$(jq -r .invoice <<<"$challenge")
    macaroon=$(jq -r .macaroon <<<"$challenge")
    wallet_url=$(jq -r .url "$data/dev-wallet.json")
    admin=$(jq -r .admin_key "$data/dev-wallet.json")
    preimage=$(curl -sf "$wallet_url/api/v1/payments" -H "X-Api-Key: $admin" -H 'Content-Type: application/json' \
        -d "{\"out\":true,\"bolt11\":\"$invoice\"}" | jq -r .preimage)
    export L402_BENCH_KEY="$key"
    export L402_BENCH_VERIFY_BODY="{\"macaroon\":\"$macaroon\",\"preimage\":\"$preimage\",\"resource\":\"/bench/weather\",\"amountSats\":10}"
    local valid
    valid=$(curl -sf "$base/api/l402/challenges/verify" -H "X-API-Key: $key" -H 'Content-Type: application/json' \
        -d "$L402_BENCH_VERIFY_BODY" | jq -r .valid)
    [[ "$valid" == true ]] || { echo "bench: the paid token does not verify" >&2; exit 1; }

    run "$name" challenges "$work/challenge.lua" "$base"
    run "$name" verify "$work/verify.lua" "$base"
    run "$name" kit-invoice "$work/kit.lua" "$base"
    # What the server counted: every verification should have been valid.
    sleep 1.5
    curl -sf "$base/api/l402/stats" -H "X-API-Key: $key" |
        jq -r --arg s "$name" '"\($s)    recorded: \(.challenges) challenges, \(.verifications.valid) valid and \(.verifications.invalid) invalid verifications"'
    # All of the server's records, l402kit's invoices (merchant 0) included.
    curl -sf "$base/api/admin/stats" -H "Authorization: Bearer $(cat "$data/admin-token")" |
        jq -r --arg s "$name" '"\($s)    in the store: \(.totals.challenges) challenges in all (merchant 0, l402kit: \(([.byMerchant[] | select(.merchantId == 0) | .challenges] | add) // 0))"'
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=""
}

echo "bench: wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores" >&2
bench_store sqlite
if [[ -n "$PG_URL" ]]; then
    schema="bench_$(date +%s)_$$"
    bench_store postgres L402_DATABASE_URL="$PG_URL" L402_DATABASE_SCHEMA="$schema"
    psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
else
    echo "bench: set L402_BENCH_DATABASE_URL=postgres://... to also measure PostgreSQL" >&2
fi
