"""moto's server, applying one request at a time.

DynamoDB applies each conditional write atomically; moto's threaded server does not lock around them, so two
concurrent conditional writes that AWS would split into one success and one ConditionalCheckFailed can both
succeed. The connector's lease, run slot and scheduling marks rely on that atomicity, and their tests race
workers against each other, so the local stack serialises requests (connections stay concurrent). Throughput is
not what the tests measure.

moto's TransactWriteItems deep-copies every table a transaction names, once per action, before applying it, so
that it can put the copies back if an action fails: each transaction costs time in proportion to the whole table
(seconds once it holds a few thousand items), which DynamoDB does not. Since requests are applied one at a time
here, keeping a copy of only the items the transaction names and putting those back is the same rollback; see
`transact_restoring_named_items`.

moto also checks an item's 400 KB limit as it builds the item, by summing the size of every attribute already set
each time it sets the next one: a cost in the square of the attribute count, paid by every write. Checking the
finished item's size once is the same check (sizes only grow as attributes are added); see `item_sized_once`.

With LOCAL_AWS_OPERATION_LOG set to a file, each request appends one JSON line: when it was applied (`at`, Unix
seconds), its operation (`op`) and how long the emulator took to apply it (`ms`, waiting for the lock excluded), so
that where a run's time goes in the emulator can be told apart from the client's own waits.

Usage: python moto_serialized.py HOST PORT
"""
import copy
import json
import os
import sys
import threading
import time

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.models.table import Table


class _TablesKeptInPlace:
    """`copy` as moto's DynamoDB backend module sees it: a table is kept in place (its rollback copy is the table
    itself, so putting it back changes nothing); anything else is copied as before."""

    @staticmethod
    def deepcopy(obj, memo=None):
        if isinstance(obj, Table):
            return obj
        return copy.deepcopy(obj, memo)


_moto_transact = DynamoDBBackend.transact_write_items


def _named_item(backend, action):
    """The table, key values and a copy of the current item (None when absent) that one action names."""
    _, op = next(iter(action.items()))
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    attrs = op.get("Key") or op.get("Item") or {}
    if table.hash_key_attr not in attrs:
        return None
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in attrs:
            return None
        range_value = DynamoType(attrs[table.range_key_attr])
    current = table.items.get(hash_value)
    if range_value is not None:
        current = current.get(range_value) if current else None
    return table, hash_value, range_value, copy.deepcopy(current)


def _put_back(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items.setdefault(hash_value, {})[range_value] = item


def transact_restoring_named_items(self, transact_items):
    named = [n for n in (_named_item(self, a) for a in transact_items) if n is not None]
    try:
        return _moto_transact(self, transact_items)
    except Exception:
        # In reverse, so that the earliest copy of an item named twice is the one left.
        for table, hash_value, range_value, item in reversed(named):
            _put_back(table, hash_value, range_value, item)
        raise


def item_sized_once(self, hash_key, range_key, attrs):
    """moto's `Item.__init__`, with the item size limit checked once on the finished item."""
    self.hash_key = hash_key
    self.range_key = range_key
    typed = {name: DynamoType(value) for name, value in attrs.items()}
    # The limit moto applies attribute by attribute (a little above DynamoDB's 400 KB, as moto measured it).
    if sum(bytesize(name) + value.size() for name, value in typed.items()) > 405000:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    # dict.update does not call LimitedSizeDict.__setitem__: the check above is the one check. Later SETs of an
    # update still go through it.
    dict.update(self.attrs, typed)


# LOCAL_AWS_MOTO_AS_RELEASED=1 leaves moto's own rollback and size check in place (for comparing the two).
if not os.environ.get("LOCAL_AWS_MOTO_AS_RELEASED"):
    dynamodb_models.copy = _TablesKeptInPlace
    Item.__init__ = item_sized_once
    DynamoDBBackend.transact_write_items = transact_restoring_named_items

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
    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
