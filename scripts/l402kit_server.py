"""The l402kit PyPI package's FastAPI decorator, self-hosted on LNbits.

Run by scripts/l402kit.sh (see its header); not on its own. It uses only
what l402kit 1.10.1 ships: `l402_required(price_sats, lightning)` with its
`LNbitsProvider(api_key, base_url)`, which mints invoices on the LNbits given
(no hosted l402kit API, no internet). l402kit verifies a credential by
itself: `sha256(preimage) == hash` from its unsigned base64-JSON "macaroon",
`exp`, and a process-wide set of used preimages (a token's second use gets
401 {"error": "Token already used"}).

Environment:
  L402_LNBITS_URL                    LNbits base URL (required)
  L402_LNBITS_MERCHANT_INVOICE_KEY   the merchant wallet's invoice key (required)
  L402KIT_PRICE_SATS                 price of /premium (default 10)
  L402KIT_PORT                       port on 127.0.0.1 (default 0: any free one)

Prints one JSON line when listening: {"event":"listening","port":N,"url":...}.
Routes: GET /premium (paid), GET /free.
"""

import json
import os
import socket
import sys

import uvicorn
from fastapi import FastAPI, Request
from l402kit import l402_required
from l402kit.providers.lnbits import LNbitsProvider


def main() -> None:
    url = os.environ.get("L402_LNBITS_URL")
    key = os.environ.get("L402_LNBITS_MERCHANT_INVOICE_KEY")
    if not url or not key:
        sys.exit("l402kit_server: L402_LNBITS_URL and L402_LNBITS_MERCHANT_INVOICE_KEY are required")
    price = int(os.environ.get("L402KIT_PRICE_SATS", "10"))
    port = int(os.environ.get("L402KIT_PORT", "0"))

    lightning = LNbitsProvider(api_key=key, base_url=url)
    app = FastAPI()

    @app.get("/premium")
    @l402_required(price_sats=price, lightning=lightning)
    async def premium(request: Request):
        return {"data": "premium content", "price_sats": price}

    @app.get("/free")
    async def free():
        return {"data": "free"}

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    # Listening before announcing: a client connecting before uvicorn starts
    # waits in the backlog instead of being refused.
    sock.listen(128)
    bound = sock.getsockname()[1]
    print(
        json.dumps({"event": "listening", "port": bound, "url": f"http://127.0.0.1:{bound}"}),
        flush=True,
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
