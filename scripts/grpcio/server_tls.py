"""server.py's gRPC echo server over TLS: argv[1] is the PEM certificate
chain, argv[2] its key (tests/fixtures/server.pem and server.key). Prints
its port, then serves until stdin closes."""

import sys
from concurrent import futures

import grpc

from server import say


def main():
    with open(sys.argv[1], "rb") as f:
        chain = f.read()
    with open(sys.argv[2], "rb") as f:
        key = f.read()
    handler = grpc.method_handlers_generic_handler(
        "echo.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials(((key, chain),))
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
