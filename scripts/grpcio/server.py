"""A real gRPC server (grpcio) for the proxy tests: one unary method,
/echo.Echo/Say, on raw bytes (no generated code). It answers JSON with the
request and the metadata it received, and sets a trailer, so the test sees
what crossed the proxy in both directions. In plain text (h2c), or over TLS
with `--tls CHAIN KEY` (the PEM certificate chain and its key, e.g.
crates/l402-cli/tests/fixtures/server.pem and server.key). Prints its port,
then serves until stdin closes."""

import argparse
import json
import sys
from concurrent import futures

import grpc


def say(request, context):
    metadata = {k: v for k, v in context.invocation_metadata() if not k.endswith("-bin")}
    context.set_trailing_metadata((("x-echo-trailer", "kept"),))
    return json.dumps({"message": request.decode(), "metadata": metadata}).encode()


def main():
    parser = argparse.ArgumentParser(description="gRPC echo server")
    parser.add_argument("--tls", nargs=2, metavar=("CHAIN", "KEY"), help="serve over TLS")
    args = parser.parse_args()
    handler = grpc.method_handlers_generic_handler(
        "echo.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    if args.tls:
        chain_file, key_file = args.tls
        with open(chain_file, "rb") as f:
            chain = f.read()
        with open(key_file, "rb") as f:
            key = f.read()
        credentials = grpc.ssl_server_credentials(((key, chain),))
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
