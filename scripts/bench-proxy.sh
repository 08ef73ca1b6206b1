#!/usr/bin/env bash
# The reverse proxy against nginx, on this machine: the same upstream (an
# nginx instance answering a small static JSON body) reached
#   1. directly,
#   2. through nginx as a plain reverse proxy (its own instance, keep-alive
#      to the upstream, `worker_processes auto`: one worker per core, as
#      l402 serve runs one event loop per core, `--workers` default),
#   3. through `l402 serve` ([[services]]) on the PAID path, with a valid
#      token bought by `l402 get` (every request carries the credential and
#      goes through the layer's check).
# The three are measured in interleaved rounds (direct, nginx, l402, then
# again) so that load from other work on the machine falls on all three.
# Reports requests/s and p99 latency (wrk --latency) of every run, the
# median ratio l402/nginx over the rounds with its range, and the RSS of
# each proxy after the runs. Target: l402 >= 90% of nginx's requests/s,
# p99 within 1.5x.
#
#   bash scripts/bench-proxy.sh      # 3 rounds, 10 s per target, 64 connections, 2 wrk threads
#   ROUNDS=5 DURATION=20s CONNECTIONS=128 bash scripts/bench-proxy.sh
#   L402_BIN=path/to/l402 bash scripts/bench-proxy.sh   # skip the build
#   L402_WORKERS=1 bash scripts/bench-proxy.sh           # l402 serve with one event loop
#
# Needs nginx, wrk and curl (nginx and wrk installed with apt-get when
# missing) and builds `l402` in release mode (into $CARGO_TARGET_DIR,
# default target/). Binds 127.0.0.1:52101-52103 only (BASE_PORT=N moves
# them to N..N+2). What it does not measure: TLS, HTTP/2, large bodies, or
# the cost of the first (paying) request.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
BASE_PORT="${BASE_PORT:-52101}"
UPSTREAM=$BASE_PORT
NGINX_PROXY=$((BASE_PORT + 1))
L402_PORT=$((BASE_PORT + 2))
WORK="$(mktemp -d /tmp/l402-bench-proxy.XXXXXX)"

log() { echo "bench-proxy.sh: $*" >&2; }

for tool in nginx wrk; do
    if ! command -v "$tool" >/dev/null; then
        log "installing $tool"
        apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null
    fi
done

if [[ -z "${L402_BIN:-}" ]]; then
    log "building l402 (release)"
    cargo build --release -q -p l402-cli
fi
L402="${L402_BIN:-${CARGO_TARGET_DIR:-target}/release/l402}"

UPSTREAM_PID=""
NGINX_PID=""
SERVE_PID=""
cleanup() {
    for pid in "$SERVE_PID" "$NGINX_PID" "$UPSTREAM_PID"; do
        if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/upstream/logs" "$WORK/proxy/logs" "$WORK/www"
# nginx's workers drop root (to www-data or nobody): mktemp's 0700 would
# hide the body from them.
chmod 755 "$WORK" "$WORK/www"
printf '{"ok":true,"data":"%s"}\n' "$(head -c 96 /dev/zero | tr '\0' x)" > "$WORK/www/index.json"
cat > "$WORK/upstream/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/upstream/nginx.pid;
error_log $WORK/upstream/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UPSTREAM;
        location / { root $WORK/www; try_files /index.json =404; default_type application/json; }
    }
}
NGINX
cat > "$WORK/proxy/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/proxy/nginx.pid;
error_log $WORK/proxy/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 128; }
    server {
        listen 127.0.0.1:$NGINX_PROXY;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$proxy_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering off;
        }
    }
}
NGINX
nginx -c "$WORK/upstream/nginx.conf" -p "$WORK/upstream" -e "$WORK/upstream/logs/error.log" &
UPSTREAM_PID=$!
nginx -c "$WORK/proxy/nginx.conf" -p "$WORK/proxy" -e "$WORK/proxy/logs/error.log" &
NGINX_PID=$!

cat > "$WORK/serve.toml" <<TOML
listen = "127.0.0.1:$L402_PORT"
[demo]
enabled = false
[producer]
enabled = false
[[services]]
name = "bench"
address = "127.0.0.1:$UPSTREAM"
price_sats = 1
TOML
L402_LOG=error "$L402" --data-dir "$WORK/data" serve --config "$WORK/serve.toml" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
up=""
for _ in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$L402_PORT/" &&
        curl -s -o /dev/null "http://127.0.0.1:$UPSTREAM/" &&
        curl -s -o /dev/null "http://127.0.0.1:$NGINX_PROXY/"; then
        up=1
        break
    fi
    sleep 0.1
done
if [[ -z "$up" ]]; then
    log "error: the servers did not start"
    cat "$WORK/serve.log" >&2
    exit 1
fi

URL="http://127.0.0.1:$L402_PORT/index.json"
"$L402" --data-dir "$WORK/data" --json get "$URL" >/dev/null
AUTH="$("$L402" --data-dir "$WORK/data" --json token export "$URL" | sed -n 's/.*"authorization":"\([^"]*\)".*/\1/p')"
[[ "$AUTH" == L402* ]] || { log "error: no token bought"; exit 1; }
for direct in "http://127.0.0.1:$UPSTREAM/index.json" "http://127.0.0.1:$NGINX_PROXY/index.json"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$direct")
    [[ "$code" == 200 ]] || { log "error: $direct answered $code"; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $AUTH" "$URL")
[[ "$code" == 200 ]] || { log "error: the paid request answered $code"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL")
[[ "$code" == 402 ]] || { log "error: the unpaid request answered $code, not 402"; exit 1; }

# RSS (KiB) of a process and its children.
tree_rss() {
    local pids
    pids="$1$(pgrep -P "$1" | sed 's/^/,/' | tr -d '\n')"
    ps -o rss= -p "$pids" | awk '{s+=$1} END {print s}'
}

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v } else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 } else print v }'; }

run() { # round name url [header]
    local round=$1 name=$2 url=$3 header=${4:-}
    local out rps p99 errors
    if [[ -n "$header" ]]; then
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$header" "$url")
    else
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
    fi
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf 'round %s  %-10s %12s req/s   p99 %-9s non-2xx %s\n' "$round" "$name" "$rps" "$p99" "${errors:-0}"
    echo "$round $name $rps $(to_ms "$p99") ${errors:-0}" >> "$WORK/results"
}

echo "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per target, $ROUNDS rounds ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
# Warm-up: connection pools filled, the token cached.
wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: $AUTH" "$URL" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$NGINX_PROXY/index.json" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    run "$round" direct "http://127.0.0.1:$UPSTREAM/index.json"
    run "$round" nginx "http://127.0.0.1:$NGINX_PROXY/index.json"
    run "$round" l402-paid "$URL" "Authorization: $AUTH"
done
echo "RSS after the runs: nginx proxy (master + workers) $(tree_rss "$NGINX_PID") KiB; l402 serve $(tree_rss "$SERVE_PID") KiB; upstream nginx $(tree_rss "$UPSTREAM_PID") KiB"

awk '
    function median(a, n,    i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { rps[$1, $2] = $3; p99[$1, $2] = $4; if ($1 > rounds) rounds = $1; if ($5 > 0) bad = 1 }
    END {
        for (r = 1; r <= rounds; r++) {
            rr[r] = 100 * rps[r, "l402-paid"] / rps[r, "nginx"]
            pr[r] = p99[r, "l402-paid"] / p99[r, "nginx"]
            dr[r] = rps[r, "direct"]; nr[r] = rps[r, "nginx"]; lr[r] = rps[r, "l402-paid"]
            printf "round %d: l402/nginx %.1f%% of the requests/s, p99 %.2fx\n", r, rr[r], pr[r]
        }
        mr = median(rr, rounds); mp = median(pr, rounds)
        printf "median requests/s: direct %.0f, nginx %.0f, l402 paid %.0f\n", median(dr, rounds), median(nr, rounds), median(lr, rounds)
        printf "l402 paid / nginx, median of %d rounds: %.1f%% of the requests/s (range %.1f-%.1f%%; target >= 90%%), p99 %.2fx (range %.2f-%.2fx; target <= 1.5x)\n", rounds, mr, rr[1], rr[rounds], mp, pr[1], pr[rounds]
        if (bad) print "WARNING: some responses were not 2xx (see non-2xx above)"
    }' "$WORK/results"
