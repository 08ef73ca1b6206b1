#!/usr/bin/env bash
# The reverse proxy against nginx, in one run on this machine: the same
# upstream (an nginx server block answering a small static body) reached
#   1. directly,
#   2. through nginx as a plain reverse proxy (keep-alive to the upstream),
#   3. through `l402 serve` ([[services]]) on the PAID path, with a valid
#      token bought by `l402 get` (every request verified by the layer).
# Reports requests/s, p99 latency (wrk --latency) and the RSS of each proxy
# after the run. Target: l402 >= 90% of nginx's requests/s, p99 within 1.5x.
#
#   bash scripts/bench-proxy.sh            # 15 s per target, 64 connections, 2 threads
#   DURATION=30s CONNECTIONS=128 bash scripts/bench-proxy.sh
#
# Needs nginx and wrk (installed with apt-get when missing) and builds
# `l402` in release mode. Binds 127.0.0.1:52101-52103 only. What it does not
# measure: TLS, HTTP/2, large bodies, or the cost of the first (paying)
# request.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
UPSTREAM=52101
NGINX_PROXY=52102
L402_PORT=52103
WORK="$(mktemp -d /tmp/l402-bench-proxy.XXXXXX)"

log() { echo "bench-proxy.sh: $*" >&2; }

for tool in nginx wrk; do
    if ! command -v "$tool" >/dev/null; then
        log "installing $tool"
        apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null
    fi
done

log "building l402 (release)"
cargo build --release -q -p l402-cli
L402="${CARGO_TARGET_DIR:-target}/release/l402"

NGINX_PID=""
SERVE_PID=""
cleanup() {
    [[ -n "$SERVE_PID" ]] && kill "$SERVE_PID" 2>/dev/null || true
    [[ -n "$NGINX_PID" ]] && kill "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/nginx/logs" "$WORK/www"
printf '{"ok":true,"data":"%s"}\n' "$(head -c 96 /dev/zero | tr '\0' x)" > "$WORK/www/index.json"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 128; }
    server {
        listen 127.0.0.1:$UPSTREAM;
        location / { root $WORK/www; try_files /index.json =404; default_type application/json; }
    }
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
EOF
# The upstream and nginx's proxy are one nginx with one worker each way
# measured; l402 serve is measured against the same upstream block.
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGINX_PID=$!

cat > "$WORK/serve.toml" <<EOF
listen = "127.0.0.1:$L402_PORT"
[demo]
enabled = false
[producer]
enabled = false
[[services]]
name = "bench"
address = "127.0.0.1:$UPSTREAM"
price_sats = 1
EOF
L402_LOG=error "$L402" --data-dir "$WORK/data" serve --config "$WORK/serve.toml" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$L402_PORT/" && curl -s -o /dev/null "http://127.0.0.1:$UPSTREAM/" && break
    sleep 0.1
done

URL="http://127.0.0.1:$L402_PORT/index.json"
"$L402" --data-dir "$WORK/data" --json get "$URL" >/dev/null
AUTH="$("$L402" --data-dir "$WORK/data" --json token export "$URL" | sed -n 's/.*"authorization":"\([^"]*\)".*/\1/p')"
[[ "$AUTH" == L402* ]] || { log "error: no token bought"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $AUTH" "$URL")
[[ "$code" == 200 ]] || { log "error: the paid request answered $code"; exit 1; }

rss_kb() { ps -o rss= -p "$1" | awk '{s+=$1} END {print s}'; }
nginx_rss() { pgrep -f "nginx: worker process" | while read -r p; do ps -o rss= -p "$p"; done | awk '{s+=$1} END {print s}'; }

run() { # name url [header]
    local name=$1 url=$2 header=${3:-}
    local out
    if [[ -n "$header" ]]; then
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$header" "$url")
    else
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
    fi
    local rps p99 errors
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf '%-26s %12s req/s   p99 %-9s non-2xx %s\n' "$name" "$rps" "$p99" "${errors:-0}"
    echo "$rps $p99" > "$WORK/$name.result"
}

echo "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per target ($(nproc) cores)"
run direct "http://127.0.0.1:$UPSTREAM/index.json"
run nginx-proxy "http://127.0.0.1:$NGINX_PROXY/index.json"
run l402-paid "$URL" "Authorization: $AUTH"
echo "RSS after the runs: nginx workers (upstream + proxy) $(nginx_rss) KiB; l402 serve $(rss_kb "$SERVE_PID") KiB"

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v } else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 } else print v }'; }
read -r n_rps n_p99 < "$WORK/nginx-proxy.result"
read -r l_rps l_p99 < "$WORK/l402-paid.result"
awk -v l="$l_rps" -v n="$n_rps" -v lp="$(to_ms "$l_p99")" -v np="$(to_ms "$n_p99")" 'BEGIN {
    printf "l402 paid / nginx: %.1f%% of the requests/s (target >= 90%%), p99 %.2fx (target <= 1.5x)\n", 100 * l / n, lp / np
}'
