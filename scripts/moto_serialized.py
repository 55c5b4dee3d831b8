"""moto's server, applying one request at a time.

DynamoDB applies each conditional write atomically; moto's threaded server does not lock around them, so two
concurrent conditional writes that AWS would split into one success and one ConditionalCheckFailed can both
succeed. The connector's lease, run slot and scheduling marks rely on that atomicity, and their tests race
workers against each other, so the local stack serialises requests (connections stay concurrent). Throughput is
not what the tests measure.

Usage: python moto_serialized.py HOST PORT
"""
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

_lock = threading.Lock()
_moto = DomainDispatcherApplication(create_backend_app)


def serialized(environ, start_response):
    with _lock:
        result = _moto(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return [body]


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
