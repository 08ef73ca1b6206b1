"""A real gRPC server (grpcio) for the proxy test: one unary method,
/echo.Echo/Say, on raw bytes (no generated code). It answers JSON with the
request and the metadata it received, and sets a trailer, so the test sees
what crossed the proxy in both directions. Prints its port, then serves
until stdin closes."""

import json
import sys
from concurrent import futures

import grpc


def say(request, context):
    metadata = {k: v for k, v in context.invocation_metadata() if not k.endswith("-bin")}
    context.set_trailing_metadata((("x-echo-trailer", "kept"),))
    return json.dumps({"message": request.decode(), "metadata": metadata}).encode()


def main():
    handler = grpc.method_handlers_generic_handler(
        "echo.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
