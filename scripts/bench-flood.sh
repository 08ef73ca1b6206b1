#!/usr/bin/env bash
# Flood benchmark of a real `l402 serve` (embedded dev node, demo route):
# one paid token sent in SPELLINGS distinct valid spellings (default 100,000;
# one in ten also adds a narrowing caveat, so a new token to cache) plus
# GARBAGE distinct bad credentials (default 100,000: half unparseable, half
# forged), rotating, while a second client sends the genuine token. Reports:
#   - the server's resident memory (VmRSS) before, at the peak during, and
#     after the flood;
#   - genuine paid throughput alone (baseline) and during the flood;
#   - the status codes of the flood (spellings must get 200, garbage 401);
#   - invoices minted on the dev node by the flood (must be 0).
#
# The token is minted with the server's secret (L402_SERVER_SECRET), exactly
# as the layer mints the tokens it sells: the layer never asks the backend
# whether an invoice was paid, the preimage is the proof.
#
# Installs wrk (Debian package) if missing. Works from any checkout and
# respects CARGO_TARGET_DIR. Not part of CI.
#
#   bash scripts/bench-flood.sh
#   SPELLINGS=20000 GARBAGE=20000 DURATION=20s bash scripts/bench-flood.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-30s}"
SPELLINGS="${SPELLINGS:-100000}"
GARBAGE="${GARBAGE:-100000}"
CONNECTIONS="${CONNECTIONS:-64}"
ADDR="${FLOOD_ADDR:-127.0.0.1:8498}"
RESOURCE=/api/demo/joke
PRICE=21

if ! command -v wrk >/dev/null; then
    echo "flood: installing wrk" >&2
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
    else
        sudo apt-get update -qq >/dev/null && sudo apt-get install -y -qq wrk >/dev/null
    fi
fi

echo "flood: building l402 and the token writer (release)" >&2
cargo build --release -q -p l402-cli --bin l402
cargo build --release -q -p l402-server --example flood_tokens
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}"
work="$(mktemp -d)"
secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$target_dir/release/examples/flood_tokens" "$secret" "$RESOURCE" "$PRICE" "$work" "$SPELLINGS" "$GARBAGE"

L402_SERVER_SECRET="$secret" "$target_dir/release/l402" --data-dir "$work/data" serve \
    --listen "$ADDR" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
url="http://$ADDR$RESOURCE"
for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://$ADDR/" 2>/dev/null && break
    sleep 0.1
done
kill -0 $server 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
invoices() { sqlite3 "file:$work/data/dev-node/dev-node.sqlite?mode=ro" 'select count(*) from invoices' 2>/dev/null || echo "?"; }
status() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $(head -1 "$1")" "$url"; }

[[ $(status "$work/genuine") == 200 ]] || { echo "flood: the genuine token is refused" >&2; exit 1; }

# Each request carries the next line of the file given after `--`; status
# codes are counted per thread and summed at the end.
cat >"$work/rotate.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
local lines, i = {}, 0
counts = { challenges = 0 }
function init(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
  i = math.random(#lines) - 1
end
function request()
  i = (i % #lines) + 1
  return wrk.format(nil, nil, { ["Authorization"] = lines[i] })
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if headers["WWW-Authenticate"] or headers["www-authenticate"] then
    counts["challenges"] = (counts["challenges"] or 0) + 1
  end
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts") or {}) do
      k = tostring(k)
      total[k] = (total[k] or 0) + v
    end
  end
  local keys = {}
  for k in pairs(total) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = k .. "=" .. total[k] end
  io.write("statuses: ", table.concat(out, " "), "\n")
end
EOF
# The flood: spellings and garbage interleaved.
paste -d'\n' "$work/spellings" "$work/garbage" | grep -v '^$' >"$work/flood"

rps() { awk '/^Requests\/sec:/ {print $2}'; }

echo "flood: baseline, genuine token only" >&2
invoices_before=$(invoices)
rss_before=$(rss_kb)
baseline=$(wrk -t1 -c16 -d10s -s "$work/rotate.lua" "$url" -- "$work/genuine" | rps)

echo "flood: $SPELLINGS spellings + $GARBAGE garbage for $DURATION, genuine token alongside" >&2
peak=0
(
    while kill -0 $server 2>/dev/null; do rss_kb; sleep 0.2; done
) >"$work/rss" &
sampler=$!
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$work/rotate.lua" "$url" -- "$work/flood" >"$work/flood.out" &
flood=$!
sleep 1
during=$(wrk -t1 -c16 -d"$(( ${DURATION%s} - 2 ))s" -s "$work/rotate.lua" "$url" -- "$work/genuine" | rps)
wait $flood
kill $sampler 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -1)
invoices_after=$(invoices)
sleep 2
rss_after=$(rss_kb)

echo
echo "flood against l402 serve ($url), $(nproc) cores"
echo "  flood requests:       $(awk '/requests in/ {print $1}' "$work/flood.out") in $DURATION ($(rps <"$work/flood.out") req/s)"
echo "  flood $(grep statuses "$work/flood.out")   (200: spellings; 401: garbage)"
echo "  genuine paid req/s:   alone $baseline, during the flood $during"
echo "  server RSS:           before $((rss_before / 1024)) MiB, peak during $((peak / 1024)) MiB, after $((rss_after / 1024)) MiB"
echo "  invoices minted:      $((invoices_after - invoices_before)) (dev node: $invoices_before before, $invoices_after after)"
