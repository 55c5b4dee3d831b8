"""moto's DynamoDB writes with costs in the shape of DynamoDB's: a put walks its item once, not three times, and a
batch write checks its items for duplicates without writing each one out as JSON. Same answers as moto's own code
(`moto_costs_check.py` proves it on a seeded workload of valid and invalid writes); `moto_costs.apply()` installs
these with the rest.

- A put: moto's `Table.put_item` walks the request's item to check its values' types, wraps its key attributes in
  new `DynamoType`s to measure them, and walks it again to build the stored item and measure it. One walk here
  checks the same values in the same order (raising the first error moto would), builds the stored values and
  measures each attribute; the key-size check and the stored item then use what it found (`checked_once`). moto's
  `put_item` itself is untouched, so its order of checks, conditions and streams stays its own. Anything unusual
  (an attribute named like a type, a value that is not one AttributeValue, a value of an unexpected Python type)
  is left to moto's own walks.
- A batch write: moto rejects a batch that names the same item twice by writing every item out as JSON and
  comparing the texts. Two items with the same text have the same attribute names in the same order and the same
  text for each key attribute, so only items that agree on those are written out and compared
  (`batch_write_checked_by_key`).

Both rely on requests being applied one at a time (moto_serialized.py's lock).
"""
from moto.core.responses import ActionResult
from moto.dynamodb import responses as responses_module
from moto.dynamodb.exceptions import HashKeyTooLong, MockValidationException, RangeKeyTooLong
from moto.dynamodb.limits import HASH_KEY_MAX_LENGTH, RANGE_KEY_MAX_LENGTH
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_json_dump

_moto_validate_item_types = Table._validate_item_types
_moto_validate_key_sizes = Table._validate_key_sizes

# The item `put_item` is checking, with what the one walk found: set by the type check, used by the key-size check
# and by `Item.__init__` for that same dict, then cleared. `put_item` is the only caller of all three.
_walked = None

# Names moto's type check reads as type letters wherever they appear, attribute names included.
_TYPE_LETTERS_CHECKED = ("N", "S", "NULL")
_LISTS = ("L", "SS", "NS", "BS")

# moto_costs' own pieces this builds on, handed over by `apply`.
_installed = {}


class _Unusual(Exception):
    """A value the one walk leaves to moto's own code."""


class _Walked:
    __slots__ = ("attrs", "typed", "sizes")

    def __init__(self, attrs, typed, sizes):
        self.attrs = attrs
        self.typed = typed
        self.sizes = sizes


def _checked_map(table, attrs, typed_and_sized, sizes=None):
    """The typed entries of a map of AttributeValues and its size, checked as moto's `_validate_item_types` checks
    them (depth first, in order)."""
    entries = {}
    size = 0
    for name, raw in attrs.items():
        if name in _TYPE_LETTERS_CHECKED or type(raw) is not dict or len(raw) != 1:
            raise _Unusual
        ((kind, value),) = raw.items()
        typed = DynamoType.__new__(DynamoType)
        typed.type = kind
        # Sizes as moto's `DynamoType.size` measures them: text by its UTF-8 length, a number by its text's length,
        # a boolean or null as one byte.
        if kind == "S":
            if type(value) is not str:
                raise _Unusual
            typed.value = value
            entry_size = len(value) if value.isascii() else len(value.encode("utf-8"))
        elif kind == "M":
            if type(value) is not dict:
                raise _Unusual
            typed.value, entry_size = _checked_map(table, value, typed_and_sized)
        elif kind == "N":
            if type(value) is not str:
                raise _Unusual
            table._validate_number_type(value)
            typed.value = value
            entry_size = len(value)
        elif kind == "BOOL":
            if type(value) is not bool:
                raise _Unusual
            typed.value = value
            entry_size = 1
        elif kind == "NULL":
            if value is not True:
                raise _Unusual
            typed.value = value
            entry_size = 1
        elif kind == "B":
            if type(value) is not bytes:
                raise _Unusual
            typed.value = value
            entry_size = len(value)
        elif kind in _LISTS:
            # moto checks nothing inside a list (its walk follows dicts only); the values are built as before.
            if type(value) is not list:
                raise _Unusual
            typed, entry_size = typed_and_sized(raw)
        else:
            raise _Unusual
        entries[name] = typed
        if sizes is not None:
            sizes[name] = entry_size
        size += (len(name) if name.isascii() else len(name.encode("utf-8"))) + entry_size
    return entries, size


def checked_once(self, item_attrs, attr=None):
    """moto's `Table._validate_item_types`, building and measuring the stored values on the way (see the module)."""
    global _walked
    _walked = None
    if attr is not None or type(item_attrs) is not dict:
        return _moto_validate_item_types(self, item_attrs, attr)
    sizes = {}
    try:
        typed, size = _checked_map(self, item_attrs, _installed["typed_and_sized"], sizes)
    except _Unusual:
        return _moto_validate_item_types(self, item_attrs, attr)
    _walked = _Walked(item_attrs, (typed, size), sizes)


def key_sizes_from_the_walk(self, item_attrs):
    """moto's `Table._validate_key_sizes`, with the sizes the one walk measured."""
    walked = _walked
    if walked is None or walked.attrs is not item_attrs:
        return _moto_validate_key_sizes(self, item_attrs)
    for name in self.hash_key_names:
        if item_attrs.get(name) and walked.sizes[name] > HASH_KEY_MAX_LENGTH:
            raise HashKeyTooLong
    for name in self.range_key_names:
        if item_attrs.get(name) and walked.sizes[name] > RANGE_KEY_MAX_LENGTH:
            raise RangeKeyTooLong


def item_from_the_walk(self, hash_key, range_key, attrs):
    """`Item.__init__` taking the values the one walk built for the same dict (moto_costs' sized-once init
    otherwise)."""
    global _walked
    walked = _walked
    _walked = None
    if walked is None or walked.attrs is not attrs:
        return _installed["item_init"](self, hash_key, range_key, attrs)
    typed, size = walked.typed
    self.hash_key = hash_key
    self.range_key = range_key
    _installed["item_finished"](self, typed, size)


def batch_write_checked_by_key(self):
    """moto's `batch_write_item`, with its duplicate check comparing the JSON text only of items that agree on their
    attribute names and key attributes (see the module)."""
    table_batches = self.body["RequestItems"]
    put_requests = []
    delete_requests = []
    key_names = []
    for table_name, table_requests in table_batches.items():
        table = self.dynamodb_backend.get_table(table_name)
        for name in (table.hash_key_attr, table.range_key_attr):
            if name is not None and name not in key_names:
                key_names.append(name)
        for table_request in table_requests:
            request_type = list(table_request.keys())[0]
            request = list(table_request.values())[0]
            if request_type == "PutRequest":
                item = request["Item"]
                responses_module.validate_put_has_empty_keys(
                    item,
                    table,
                    custom_error_msg="One or more parameter values are not valid. The AttributeValue for a key "
                    "attribute cannot contain an empty string value. Key: {}",
                )
                put_requests.append((table_name, item))
            elif request_type == "DeleteRequest":
                delete_requests.append((table_name, request["Key"]))
    if self._contains_duplicates([dynamo_json_dump(keys) for _, keys in delete_requests]) or _names_an_item_twice(
        [item for _, item in put_requests], key_names
    ):
        raise MockValidationException("Provided list of item keys contains duplicates")
    for table_name, item in put_requests:
        self.dynamodb_backend.put_item(table_name, item)
    for table_name, keys in delete_requests:
        self.dynamodb_backend.delete_item(table_name, keys)
    return ActionResult(
        {
            "ConsumedCapacity": [
                {"TableName": table_name, "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}
                for table_name in table_batches
            ],
            "ItemCollectionMetrics": {},
            "UnprocessedItems": {},
        }
    )


def _names_an_item_twice(items, key_names):
    """Whether two items have the same JSON text, as moto compares them, writing out only items that agree on their
    attribute names and key attributes' texts (which equal texts imply)."""
    groups = {}
    for item in items:
        if not isinstance(item, dict):
            groups.setdefault(None, []).append(item)
            continue
        agreed = (tuple(item), tuple(dynamo_json_dump(item[name]) for name in key_names if name in item))
        groups.setdefault(agreed, []).append(item)
    for group in groups.values():
        if len(group) > 1:
            texts = [dynamo_json_dump(item) for item in group]
            if len(set(texts)) < len(texts):
                return True
    return False


def apply(typed_and_sized, item_init, item_finished):
    """Installs the changes above on top of moto_costs' own: how it builds and measures one value, its item
    constructor, and the constructor's last step (the size limit and the stored values)."""
    _installed.update(typed_and_sized=typed_and_sized, item_init=item_init, item_finished=item_finished)
    Table._validate_item_types = checked_once
    Table._validate_key_sizes = key_sizes_from_the_walk
    Item.__init__ = item_from_the_walk
    responses_module.DynamoHandler.batch_write_item = batch_write_checked_by_key
