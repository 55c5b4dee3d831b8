"""moto's DynamoDB with costs in the shape of DynamoDB's: what a request costs grows with what it names or returns,
not with the size of the table or the depth of an item. Each change below gives the same answers as moto's own code
(tests/local-stack holds the proofs, `moto_costs_check.py` among them); `apply()` installs them all, and `scripts/moto_serialized.py` calls it unless
LOCAL_AWS_MOTO_AS_RELEASED=1.

- Transactions: moto deep-copies every table a `TransactWriteItems` names, once per action, so that it can put the
  copies back if an action fails: seconds once a table holds a few thousand items. Keeping a copy of only the items
  the transaction names and putting those back is the same rollback (`transact_restoring_named_items`).
- Item size on write: moto sums the size of every attribute already set each time it sets the next one, a cost in
  the square of the attribute count. Checking the finished item once is the same check, since sizes only grow as
  attributes are added (`item_sized_once`).
- Size of a value: moto measures a map by wrapping each of its values in a new `DynamoType`, which wraps every value
  below it again, so a nested record is rebuilt once per level of depth. Its values are `DynamoType`s already
  (`DynamoType.__init__` wraps them); measuring them in place is the same sum (`size_in_place`).
- Size of an item: moto measures an item each time a query returns it. Keeping the measure on the item until an
  update changes it is the same size (`item_size_measured_once`, `update_measuring_again`).
- Query: moto walks every item of the table to find the partition's, sorts the partition, walks it from the start
  to the page's exclusive start key, and measures every item after it (the response's 1 MB limit) up to the page's
  end, matching the sort-key condition or not. Handing its own query only the items of the partition that match the
  key condition, from the start key to where the page ends, and the partition's next item (moto returns where it
  stopped at a limit only when another item follows) gives the same page (`query_on_matching_items`): its loop
  applies the same conditions to them again. One difference is left on purpose: moto as released also ends a page
  when an item past the key condition's range would take it over 1 MB; DynamoDB reads only the range, and so does
  this. An index query is handed its index partition whole.
- Query results: moto deep-copies the page's items before projecting them; they are only read from then on, so the
  page is handed on as it is (`_ResultsLeftInPlace`).
- Projection: moto turns the whole item into plain JSON and back to project it. For attribute names and paths into
  maps, which is what the connector asks for, taking those values is the same projection (`projected_by_name`).
- Parsing and serialising: requests and responses as JSON without looking up each AttributeValue's shape
  (`moto_wire_costs.py`).
- Writes: a put walks its item once and a batch write checks for duplicates by key first (`moto_write_costs.py`).

All of them rely on requests being applied one at a time (moto_serialized.py's lock): nothing else touches a table
while a request is applied.
"""
import bisect
import copy
import re

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize

import moto_wire_costs  # beside this file, as is the next
import moto_write_costs


class _TablesKeptInPlace:
    """`copy` as moto's DynamoDB backend module sees it: a table is kept in place (its rollback copy is the table
    itself, so putting it back changes nothing); anything else is copied as before."""

    @staticmethod
    def deepcopy(obj, memo=None):
        if isinstance(obj, Table):
            return obj
        return copy.deepcopy(obj, memo)


_moto_transact = DynamoDBBackend.transact_write_items
_moto_query = Table.query
_moto_project = Item.project
_moto_size = DynamoType.size
_moto_item_size = Item.size
_moto_update_item = DynamoDBBackend.update_item


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


def _text_size(text):
    # moto's `bytesize` of a str (its UTF-8 length), without encoding text that is ASCII.
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _typed_and_sized(raw):
    """`DynamoType(raw)` and its size, built and measured in one walk (moto's constructor: the first key is the type,
    lists and maps hold DynamoTypes; moto's size for everything but strings, maps and lists)."""
    typed = DynamoType.__new__(DynamoType)
    kind = next(iter(raw))
    value = raw[kind]
    typed.type = kind
    if kind == "M":
        entries = {}
        size = 0
        for name, entry in value.items():
            entries[name], entry_size = _typed_and_sized(entry)
            size += _text_size(name) + entry_size
        typed.value = entries
        return typed, size
    if kind == "L":
        elements = []
        size = 0
        for entry in value:
            element, entry_size = _typed_and_sized(entry)
            elements.append(element)
            size += entry_size
        typed.value = elements
        return typed, size
    typed.value = value
    return typed, (_text_size(value) if kind == "S" and isinstance(value, str) else _moto_size(typed))


def item_sized_once(self, hash_key, range_key, attrs):
    """moto's `Item.__init__`, with the item size limit checked once on the finished item."""
    self.hash_key = hash_key
    self.range_key = range_key
    typed = {}
    size = 0
    for name, value in attrs.items():
        if type(value) is DynamoType:
            typed[name] = DynamoType(value)
            size += bytesize(name) + typed[name].size()
        else:
            typed[name], value_size = _typed_and_sized(value)
            size += _text_size(name) + value_size
    item_finished(self, typed, size)


def item_finished(self, typed, size):
    """The end of `item_sized_once`: the size limit checked once, the typed values stored."""
    # The limit moto applies attribute by attribute (a little above DynamoDB's 400 KB, as moto measured it).
    if size > 405000:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    # dict.update does not call LimitedSizeDict.__setitem__: the check above is the one check. Later SETs of an
    # update still go through it.
    dict.update(self.attrs, typed)
    # The same measure as moto's `Item.size` (names and values as `DynamoType.size` measures them): kept for queries.
    self.__dict__[_MEASURED] = size


_MEASURED = "_measured_size"


def item_size_measured_once(self):
    """moto's `Item.size`, kept on the item until an update changes it (`update_measuring_again`): a query measures
    every item it returns, for the 1 MB page limit, on every query."""
    size = self.__dict__.get(_MEASURED)
    if size is None:
        size = _moto_item_size(self)
        self.__dict__[_MEASURED] = size
    return size


def _stored_item(backend, table_name, key):
    # The item an update names, found as moto's `update_item` finds it; None where moto would not find one either.
    try:
        table = backend.get_table(table_name)
        if table.hash_key_attr in key and table.range_key_attr in key:
            return table.get_item(DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr]))
        if table.hash_key_attr in key:
            return table.get_item(DynamoType(key[table.hash_key_attr]), None)
        return table.get_item(DynamoType(key), None)
    except Exception:
        return None


def update_measuring_again(self, table_name, key, *args, **kwargs):
    """moto's `update_item`, forgetting the measured size of the item it changes in place, even when it fails part
    way. An update is the only change moto makes to a stored item in place: a put
    stores a new item, a transaction's rollback puts copies back (moto's deep copy of an item keeps no size)."""
    before = _stored_item(self, table_name, key)
    try:
        return _moto_update_item(self, table_name, key, *args, **kwargs)
    finally:
        # The item stored after may be one the update created and then failed to finish.
        for item in (before, _stored_item(self, table_name, key)):
            if item is not None:
                item.__dict__.pop(_MEASURED, None)


def _value_size(value):
    return value.size() if type(value) is DynamoType else DynamoType(value).size()


def size_in_place(self):
    """moto's `DynamoType.size` without re-wrapping a list's or map's values (sets, numbers and the rest are measured
    by moto's own code)."""
    kind = self.type
    if kind == "S":
        return bytesize(self.value)
    if kind == "M":
        return sum(bytesize(k) + _value_size(v) for k, v in self.value.items())
    if kind == "L":
        return sum(_value_size(v) for v in self.value)
    return _moto_size(self)


def _matches(value, comparison, operands):
    return value is not None and value.compare(comparison, operands)


def _page_of(table, hash_key, matching, exclusive_start_key, scan_index_forward, limit):
    """Of a partition's items matching the key condition, those moto's loop can reach for this page, in ascending
    order (moto reverses a backward query itself): after the exclusive start key, up to where the page must end (the
    limit, or the 1 MB of items that ends a page, and the item that would go past either). Where the matching run
    ends first, the partition's next item in the query's direction follows it, as in moto's walk of the whole
    partition: at the limit, moto returns where it stopped only when another item follows. Only where the sort key
    is text, which moto and DynamoDB order by code point (UTF-8's byte order); otherwise all of them, unordered."""
    partition = table.items.get(hash_key, {})
    if table.range_key_type != "S" or any(type(item.range_key.value) is not str for item in partition.values()):
        return matching
    start = exclusive_start_key or {}
    start_hash = start.get(table.hash_key_attr, {}).get("S")
    start_range = start.get(table.range_key_attr, {}).get("S")
    if start and (start_hash != hash_key.value or start_range is None):
        return matching
    matching.sort(key=lambda item: item.range_key.value)
    if start_range is not None:
        keys = [item.range_key.value for item in matching]
        if scan_index_forward:
            matching = matching[bisect.bisect_right(keys, start_range) :]
        else:
            matching = matching[: bisect.bisect_left(keys, start_range)]
    ordered = matching if scan_index_forward else matching[::-1]
    reach = len(ordered)
    if isinstance(limit, int) and limit > 0:
        reach = min(reach, limit + 1)
    size = 0
    for at in range(reach):
        size += ordered[at].size()
        if size > table_module.RESULT_SIZE_LIMIT:
            reach = at + 1
            break
    page = ordered[:reach]
    if reach == len(ordered) and ordered:
        # The matching run ends inside this page: hand moto the item after it, which it would have walked to.
        last = ordered[-1].range_key.value
        after = [
            item
            for item in partition.values()
            if (item.range_key.value > last if scan_index_forward else item.range_key.value < last)
        ]
        if after:
            page.append((min if scan_index_forward else max)(after, key=lambda item: item.range_key.value))
    return page if scan_index_forward else page[::-1]


def _matching_items(
    table,
    hash_key,
    range_comparison,
    range_objs,
    index_name,
    hash_conditions,
    range_conditions,
    exclusive_start_key,
    scan_index_forward,
    limit,
):
    """The items moto's query needs to see: on the table, the items matching the key condition that its page can
    reach (and the one after them); on an index, the index partition. None where moto's own walk is kept (a table
    without a sort key, a key of several attributes, an index hash value that is not a string)."""
    if len(range_conditions or []) > 1:
        return None
    if index_name is None:
        if table.range_key_attr is None or hash_key is None:
            return None
        candidates = list(table.items.get(hash_key, {}).values())
        if range_comparison:
            # A query on the table compares the sort key (moto's loop, when no condition names another attribute).
            named = range_conditions[-1][0] if range_conditions else None
            candidates = [
                item
                for item in candidates
                if _matches(item.attrs.get(named) if named else item.range_key, range_comparison, range_objs)
            ]
        if hash_key.type != "S":
            return candidates
        return _page_of(table, hash_key, candidates, exclusive_start_key, scan_index_forward, limit)
    if table.range_key_attr is None or not hash_conditions or any(value.type != "S" for _, value in hash_conditions):
        return None
    # Strings equal as DynamoDB compares them exactly when their texts are equal. moto's `all_items` sorts the whole
    # table first; its query sorts what matches by the index's keys and the table's, so the order it is handed the
    # items in does not matter. The index partition is handed over whole: moto walks all of it, and where a page ends
    # depends on what follows the items that match.
    return [
        item
        for partition in table.items.values()
        for item in partition.values()
        if isinstance(item, Item)
        and all(
            (held := item.attrs.get(name)) is not None and held.type == "S" and held.value == value.value
            for name, value in hash_conditions
        )
    ]


def query_on_matching_items(
    self,
    hash_key,
    range_comparison,
    range_objs,
    limit,
    exclusive_start_key,
    scan_index_forward,
    projection_expressions,
    index_name=None,
    consistent_read=False,
    filter_expression=None,
    hash_key_conditions=None,
    range_key_conditions=None,
    **filter_kwargs,
):
    """moto's `Table.query`, walking only the items that match the key condition."""
    matching = None
    if not filter_kwargs:
        matching = _matching_items(
            self,
            hash_key,
            range_comparison,
            range_objs,
            index_name,
            hash_key_conditions,
            range_key_conditions,
            exclusive_start_key,
            scan_index_forward,
            limit,
        )
    if matching is not None:
        # moto's query reads the table through `all_items`; for this one call it sees the matching items only.
        self.all_items = lambda: matching
    table_module.copy = _ResultsLeftInPlace
    try:
        return _moto_query(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            consistent_read,
            filter_expression,
            hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions,
            **filter_kwargs,
        )
    finally:
        table_module.copy = copy
        if matching is not None:
            del self.all_items


class _ResultsLeftInPlace:
    """`copy` as moto's `Table.query` sees it: the page's items are not copied. moto copies them so that what it
    hands back cannot change the table; the response is serialised before the next request is applied, and building
    it reads them only."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(obj, memo=None):
        return list(obj) if isinstance(obj, list) else copy.deepcopy(obj, memo)


_LIST_ELEMENT = re.compile(r".+\[\d+\]$")


def _take(path, source, target):
    """Copies the value at `path` (names of nested map entries) from `source` into `target`, creating the maps
    above it there; nothing when the path does not lead to a value."""
    value = source.get(path[0])
    for name in path[1:]:
        if value is None or value.type != "M":
            return
        value = value.value.get(name)
    if value is None:
        return
    for name in path[:-1]:
        held = target.get(name)
        if held is None:
            held = DynamoType({"M": {}})
            dict.__setitem__(target, name, held)
        target = held.value
    dict.__setitem__(target, path[-1], copy.deepcopy(value))


def projected_by_name(self, projection_expressions):
    """moto's `Item.project`, taking the named attributes and map entries as they are instead of through plain JSON
    and back (an element of a list is left to moto)."""
    if any(_LIST_ELEMENT.match(name) for path in projection_expressions for name in path):
        return _moto_project(self, projection_expressions)
    projected = Item.__new__(Item)
    projected.hash_key = self.hash_key
    projected.range_key = self.range_key
    projected.attrs = LimitedSizeDict()
    for path in projection_expressions:
        _take(path, self.attrs, projected.attrs)
    return projected


def apply():
    dynamodb_models.copy = _TablesKeptInPlace
    DynamoDBBackend.transact_write_items = transact_restoring_named_items
    Item.__init__ = item_sized_once
    moto_write_costs.apply(_typed_and_sized, item_sized_once, item_finished)
    DynamoType.size = size_in_place
    Item.size = item_size_measured_once
    DynamoDBBackend.update_item = update_measuring_again
    Table.query = query_on_matching_items
    Item.project = projected_by_name
    moto_wire_costs.apply()
