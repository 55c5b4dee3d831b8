"""moto's handling of a request, at a cost in the size of what it carries: finding the handler, turning the JSON
into parameters and the result into JSON. Same answers as moto's own code (`moto_costs_check.py`);
`moto_costs.apply()` installs these with the rest.

- Finding the handler: for every request moto lists its own package folder (a directory read and a `stat` per
  service, about sixty) to tell a service name from a host name, and lists the handler class's methods to find the
  action's. Neither changes while the server runs, so each is listed once (`_listed_once`).
- JSON: moto turns a request's JSON into parameters, and a response into JSON, by walking the operation's shapes,
  looking up each nested AttributeValue's shape and each of its ten members on the way: most of a batch write's
  time. Doing it by the members an AttributeValue has gives the same parameters and the same JSON
  (`structure_parsed_directly`, `structure_serialized_directly`). An item or a key in a request is converted entry
  by entry, and a value of one plain member is taken as it is (`map_parsed_directly`, `_parsed`).
"""
import functools

from moto import backends
from moto.core import responses as core_responses
from moto.core.parse import BaseJSONParser, JSONParser
from moto.core.serialize import BaseJSONSerializer

# The members of DynamoDB's AttributeValue, in the order of its shape.
_ATTRIBUTE_VALUE_MEMBERS = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_moto_parse_structure = BaseJSONParser._parse_structure
_moto_serialize_structure = BaseJSONSerializer._serialize_type_structure
_moto_parse_map = JSONParser._parse_map


def _converted(value, text, binary):
    """One AttributeValue as moto's JSON parser (from a request) or serializer (into a response) makes it: members
    in the shape's order, absent and null members left out, text through `text` (None: as it is), binary values
    through `binary`, maps and lists of AttributeValues converted in turn."""
    if value is None:
        return None
    out = {}
    for name in _ATTRIBUTE_VALUE_MEMBERS if len(value) > 1 else value:
        raw = value.get(name)
        if raw is None:
            continue
        if name in ("S", "N"):
            out[name] = raw if text is None else text(raw)
        elif name in ("SS", "NS"):
            out[name] = raw if text is None else [text(entry) for entry in raw]
        elif name in ("NULL", "BOOL"):
            out[name] = raw
        elif name == "M":
            out[name] = {key: _converted(entry, text, binary) for key, entry in raw.items()}
        elif name == "L":
            out[name] = [_converted(entry, text, binary) for entry in raw]
        elif name == "B":
            out[name] = binary(raw)
        elif name == "BS":
            out[name] = [binary(entry) for entry in raw]
    return out


_TAKEN_AS_THEY_ARE = frozenset(("S", "N", "BOOL", "NULL"))


def _parsed(value, binary):
    """`_converted` for a request (text as it is), with a value of one plain member taken as it is and maps and
    lists of them walked here: what the loop there would build, in fewer calls (a batch write holds thousands)."""
    if type(value) is dict and len(value) == 1:
        ((name, raw),) = value.items()
        if raw is not None:
            if name in _TAKEN_AS_THEY_ARE:
                return value
            if name == "M" and type(raw) is dict:
                return {"M": {key: _parsed(entry, binary) for key, entry in raw.items()}}
            if name == "L" and type(raw) is list:
                return {"L": [_parsed(entry, binary) for entry in raw]}
    return _converted(value, None, binary)


def structure_parsed_directly(self, shape, value):
    """moto's JSON `_parse_structure`, with AttributeValues parsed without looking up their shape at every level."""
    if shape.name == "AttributeValue" and tuple(shape.members) == _ATTRIBUTE_VALUE_MEMBERS:
        return _parsed(value, self._blob_parser)
    return _moto_parse_structure(self, shape, value)


def map_parsed_directly(self, shape, value):
    """moto's `_parse_map` for a JSON request, with a map of AttributeValues (an item, a key) converted entry by
    entry without looking up the key's and the value's shapes for each (a JSON parser takes a string key as it
    is)."""
    value_shape = shape.value
    if (
        type(value) is dict
        and value_shape.name == "AttributeValue"
        and tuple(value_shape.members) == _ATTRIBUTE_VALUE_MEMBERS
        and shape.key.type_name == "string"
        and not hasattr(self, "_parse_string")
    ):
        blob = self._blob_parser
        return self.MAP_TYPE((key, _parsed(entry, blob)) for key, entry in value.items())
    return _moto_parse_map(self, shape, value)


def _text(value):
    # moto's JSON string serializer: text as str, None and empty containers as they are.
    return value if value is None or value == {} or value == [] else str(value)


def _plain_attribute_value(value):
    # Dicts all the way down, as moto's DynamoDB results hold them; a None inside a map or a list is moto's to write.
    if not isinstance(value, dict) or any(v is None for v in value.values()):
        return False
    for name, raw in value.items():
        if name == "M" and not (isinstance(raw, dict) and all(_plain_attribute_value(e) for e in raw.values())):
            return False
        if name == "L" and not (isinstance(raw, list) and all(_plain_attribute_value(e) for e in raw)):
            return False
    return True


def structure_serialized_directly(self, serialized, value, shape, key):
    """moto's JSON `_serialize_type_structure`, with AttributeValues written without looking up their shape (and
    picking each of its ten members) at every level."""
    if (
        key
        and shape.name == "AttributeValue"
        and tuple(shape.members) == _ATTRIBUTE_VALUE_MEMBERS
        and not getattr(self._value_picker, "response_transformers", None)
        and _plain_attribute_value(value)
    ):
        serialized[self.get_serialized_name(shape, key)] = _converted(value, _text, self._base64)
        return
    _moto_serialize_structure(self, serialized, value, shape, key)


def _listed_once(list_them):
    """`list_them` (a function of hashable arguments returning names), called once per argument: its list kept as
    a tuple and handed out as a new list each time, so that no caller can change what the next one gets."""
    kept = functools.lru_cache(maxsize=None)(lambda *args: tuple(list_them(*args)))
    return lambda *args: list(kept(*args))


def apply():
    backends.list_of_moto_modules = _listed_once(backends.list_of_moto_modules)
    core_responses.method_names_from_class = _listed_once(core_responses.method_names_from_class)
    BaseJSONParser._parse_structure = structure_parsed_directly
    JSONParser._parse_map = map_parsed_directly
    BaseJSONSerializer._serialize_type_structure = structure_serialized_directly
