"""moto's server, applying one request at a time.

DynamoDB applies each conditional write atomically; moto's threaded server does not lock around them, so two
concurrent conditional writes that AWS would split into one success and one ConditionalCheckFailed can both
succeed. The connector's lease, run slot and scheduling marks rely on that atomicity, and their tests race
workers against each other, so the local stack serialises requests (connections stay concurrent). Throughput is
not what the tests measure.

moto's DynamoDB also pays for requests in proportion to what DynamoDB does not: the whole table for a transaction,
the whole partition for a query, an item's depth for its size. `moto_costs.py` changes that without changing any
answer, the cycle collector runs less often (see below), and `moto_http.py` keeps connections open between requests, as AWS's endpoints do (werkzeug's server, moto's
own, closes each after one request); LOCAL_AWS_MOTO_AS_RELEASED=1 leaves moto and its server as released (for
comparing the two).

With LOCAL_AWS_OPERATION_LOG set to a file, each request appends one JSON line: when it was applied (`at`, Unix
seconds), its operation (`op`) and how long the emulator took to apply it (`ms`, waiting for the lock excluded), so
that where a run's time goes in the emulator can be told apart from the client's own waits.

Usage: python moto_serialized.py HOST PORT
"""
import gc
import json
import os
import sys
import threading
import time

from werkzeug.serving import run_simple

import moto_costs  # beside this file: a script's own folder is on its import path, as for the next
import moto_http
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

if not os.environ.get("LOCAL_AWS_MOTO_AS_RELEASED"):
    moto_costs.apply()
    # Python's cycle collector runs every 700 new objects and walks what survived earlier runs: the stored items,
    # tens of objects each, again and again while a sync writes them (a third of a batch write's time). moto's
    # values are trees that reference counting frees; most of a request's objects die before a collection at this
    # threshold, and cycles (a request's context, a traceback) are still collected.
    gc.set_threshold(100_000, 50, 100)

_lock = threading.Lock()
_moto = DomainDispatcherApplication(create_backend_app)


_operation_log_path = os.environ.get("LOCAL_AWS_OPERATION_LOG")
_operation_log = open(_operation_log_path, "a", encoding="utf-8") if _operation_log_path else None


def serialized(environ, start_response):
    with _lock:
        started = time.time()
        result = _moto(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if _operation_log is not None:
            # DynamoDB and SQS name the operation in X-Amz-Target; Secrets Manager too.
            op = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2] or environ.get("PATH_INFO", "")
            line = {"at": round(started, 4), "op": op, "ms": round((time.time() - started) * 1000, 2)}
            _operation_log.write(json.dumps(line) + "\n")
            _operation_log.flush()
    return [body]


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    if os.environ.get("LOCAL_AWS_MOTO_AS_RELEASED"):
        run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)
    else:
        moto_http.serve(host, port, serialized)


if __name__ == "__main__":
    main()
