"""A webhook receiver for the tests, independent of the producer's code.

It checks `l402-signature: t=<unix>,v1=<hex>` with Python's own `hmac`
(HMAC-SHA256 keyed with the secret's text, over "<t>.<body>"), compared in
constant time, and refuses a `t` more than 300 s from now. Each request is
appended to the log file as one JSON line: {"valid", "why", "event"}; a
valid one is answered 200, an invalid one 400.

Usage: python3 webhooks_receiver.py PORT SECRET_FILE LOG_FILE
The secret is read from SECRET_FILE at each request (the test writes it
once the endpoint is registered). Prints "ready <port>" when listening.
"""

import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SECRET_FILE, LOG_FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
TOLERANCE = 300


def check(header, body, secret):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts:
        return False, "malformed header"
    try:
        t = int(parts["t"])
    except ValueError:
        return False, "malformed t"
    if abs(time.time() - t) > TOLERANCE:
        return False, "too old"
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, parts["v1"]):
        return False, "bad signature"
    return True, ""


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        try:
            with open(SECRET_FILE) as f:
                secret = f.read().strip()
        except OSError:
            secret = ""
        valid, why = check(self.headers.get("l402-signature", ""), body, secret)
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        line = {
            "valid": valid,
            "why": why,
            "event": event,
            "raw": body.decode("utf-8", "replace"),
            "event_id_header": self.headers.get("l402-event-id"),
        }
        with open(LOG_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(200 if valid else 400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"ok": valid, "why": why}).encode())

    def log_message(self, *args):
        pass


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", server.server_address[1], flush=True)
server.serve_forever()
