"""A real gRPC client (grpcio) for the proxy test: calls /echo.Echo/Say on
ADDR with MESSAGE and, when given, the `authorization` metadata; prints one
JSON line: the status code name, details, the answer and the trailers."""

import json
import sys

import grpc


def main():
    addr, message = sys.argv[1], sys.argv[2]
    authorization = sys.argv[3] if len(sys.argv) > 3 else None
    metadata = (("authorization", authorization),) if authorization else None
    with grpc.insecure_channel(addr) as channel:
        say = channel.unary_unary("/echo.Echo/Say")
        try:
            answer, call = say.with_call(message.encode(), metadata=metadata, timeout=20)
            out = {
                "code": call.code().name,
                "answer": json.loads(answer),
                "trailers": dict(call.trailing_metadata() or ()),
            }
        except grpc.RpcError as e:
            out = {
                "code": e.code().name,
                "details": e.details(),
                "initial": {k: v for k, v in (e.initial_metadata() or ())},
                "trailers": {k: v for k, v in (e.trailing_metadata() or ())},
            }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
