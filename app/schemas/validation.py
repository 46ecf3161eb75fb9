"""Checking a payload against a request Struct (request.py), answered with this API's codes.

msgspec checks the types and ranges the Struct declares. What it reports is rephrased here from
the same declaration, so that a message names the field, says what is wrong and what is allowed
("The field "confidence" must be a number between 0 and 1."), with the codes clients know:
`unknown_field`, `missing_field`, `invalid_field`, or a caller's own for a bad list entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

from ..detector import InvalidRequest

S = TypeVar("S", bound=msgspec.Struct)
# msgspec's location of a bad value: "... - at `$.slicing.tile[0]`".
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_INDEX = re.compile(r"\[[^\]]*\]")


def validated(
    payload: dict,
    struct: type[S],
    *,
    where: str = "",
    entry_errors: Mapping[str, Callable[[Any], InvalidRequest]] | None = None,
) -> S:
    """payload as a `struct`, or InvalidRequest about the first bad field in declaration order.

    where: the dotted prefix of these fields in the request ("slicing." for a nested object).
    entry_errors: list field -> the error for one bad entry of it (e.g. an unknown class).
    """
    try:
        return msgspec.convert(payload, struct)  # the common case: valid as sent
    except msgspec.ValidationError:
        pass
    # Not as sent: our own checks first (every unknown name listed, the required fields),
    # then msgspec's once more on the payload as declared, to word its first complaint.
    info = struct_info(struct)
    _refuse_unknown(payload, info, where)
    _require(payload, info, where)
    try:
        return msgspec.convert(as_declared(payload, info), struct)
    except msgspec.ValidationError as exc:
        raise _rephrase(str(exc), payload, info, where, entry_errors or {}) from None


@cache
def struct_info(struct: type[msgspec.Struct]) -> inspect.StructType:
    return inspect.type_info(struct)


def fields_in_order(info: inspect.StructType) -> list[inspect.Field]:
    """Required fields first, then the rest as declared: how messages and the schema list them."""
    return sorted(info.fields, key=lambda f: not f.required)


def field_type(info: inspect.StructType, dotted: str) -> inspect.Type | None:
    """The declared type of a (dotted) JSON field name, or None if there is no such field."""
    kind: inspect.Type | None = info
    for name in dotted.split("."):
        struct = _struct_of(kind) if kind is not None else None
        by_name = {f.encode_name: f.type for f in struct.fields} if struct else {}
        kind = by_name.get(name)
    return kind


def expected(kind: inspect.Type) -> str:
    """What a field takes, in words: its Meta extra "expected", or else its type's."""
    if isinstance(kind, inspect.Metadata):
        return (kind.extra or {}).get("expected") or expected(kind.type)
    if isinstance(kind, inspect.FloatType):
        return "a number" + _bounds(kind, "between {} and {}")
    if isinstance(kind, inspect.IntType):
        return "an integer" + _bounds(kind, "from {} to {}")
    if isinstance(kind, inspect.LiteralType):
        return "one of " + ", ".join(f'"{value}"' for value in kind.values)
    if isinstance(kind, inspect.UnionType):
        return " or ".join(expected(member) for member in kind.types)
    if isinstance(kind, inspect.StrType | inspect.ListType):
        noun = "string" if isinstance(kind, inspect.StrType) else "list"
        return f"a non-empty {noun}" if kind.min_length else f"a {noun}"
    words = {inspect.BoolType: "true or false", inspect.StructType: "an object"}
    return words.get(type(kind), "a valid value")


def _bounds(kind: inspect.FloatType | inspect.IntType, both: str) -> str:
    if kind.ge is not None and kind.le is not None:
        return " " + both.format(kind.ge, kind.le)
    parts = [
        f"{words} {bound}"
        for words, bound in (
            ("at least", kind.ge), ("above", kind.gt), ("at most", kind.le), ("below", kind.lt)
        )
        if bound is not None
    ]  # fmt: skip
    return (" " + " and ".join(parts)) if parts else ""


def as_declared(value: Any, kind: inspect.Type) -> Any:
    """value with an object's fields in declaration order (so the first bad one is reported)
    and integral floats as integers where the declaration says integer: JSON has one number
    type, and JSON Schema's "integer" takes 416.0 too."""
    kind = _bare(kind)
    if isinstance(value, float) and value.is_integer() and _takes_int(kind):
        return int(value)
    item = _list_item(kind)
    if isinstance(value, list) and item is not None:
        return [as_declared(entry, item) for entry in value]
    struct = _struct_of(kind)
    if isinstance(value, dict) and struct is not None:
        declared = {f.encode_name: f.type for f in struct.fields}
        ordered = {
            name: as_declared(value[name], declared[name]) for name in declared if name in value
        }
        return {**ordered, **{k: v for k, v in value.items() if k not in declared}}
    return value


def _bare(kind: inspect.Type) -> inspect.Type:
    return kind.type if isinstance(kind, inspect.Metadata) else kind


def _members(kind: inspect.Type) -> tuple[inspect.Type, ...]:
    kind = _bare(kind)
    return tuple(map(_bare, kind.types)) if isinstance(kind, inspect.UnionType) else (kind,)


def _takes_int(kind: inspect.Type) -> bool:
    members = _members(kind)
    has = {type(member) for member in members}
    return inspect.IntType in has and inspect.FloatType not in has


def _list_item(kind: inspect.Type) -> inspect.Type | None:
    lists = [m.item_type for m in _members(kind) if isinstance(m, inspect.ListType)]
    return lists[0] if lists else None


def _struct_of(kind: inspect.Type) -> inspect.StructType | None:
    structs = [m for m in _members(kind) if isinstance(m, inspect.StructType)]
    return structs[0] if structs else None


def _refuse_unknown(value: dict, info: inspect.StructType, where: str) -> None:
    """Every unknown name (a few echoed, cut short), here and in nested objects."""
    allowed = [f.encode_name for f in fields_in_order(info)]
    unknown = sorted(set(value) - set(allowed), key=str)
    if unknown:
        # Echo a few names, cut short: the message must not mirror a megabyte of keys back.
        named = ", ".join(repr(str(name)[:40]) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        place = f' in "{where[:-1]}"' if where else ""
        raise InvalidRequest(
            f"Unknown field(s){place}: {named}{more}. Allowed: {', '.join(allowed)}.",
            code="unknown_field",
        )
    for f in info.fields:
        nested, inner = _struct_of(f.type), value.get(f.encode_name)
        if nested is not None and isinstance(inner, dict):
            _refuse_unknown(inner, nested, f"{where}{f.encode_name}.")


def _require(value: dict, info: inspect.StructType, where: str) -> None:
    for f in info.fields:
        if f.required and f.encode_name not in value:
            raise InvalidRequest(
                f'The field "{where}{f.encode_name}" is required: {expected(f.type)}.',
                code="missing_field",
            )


def _rephrase(
    message: str,
    payload: dict,
    info: inspect.StructType,
    where: str,
    entry_errors: Mapping[str, Callable[[Any], InvalidRequest]],
) -> InvalidRequest:
    """msgspec's ValidationError text -> our error about the field it names."""
    at = _AT.search(message)
    path = at["path"] if at else ""
    dotted = _INDEX.sub("", path).lstrip(".")
    top = dotted.split(".", 1)[0]
    entry = re.match(rf"\.{re.escape(top)}\[(\d+)\]", path) if top in entry_errors else None
    if entry is not None:
        return entry_errors[top](payload[top][int(entry[1])])
    kind = field_type(info, dotted) if dotted else None
    if kind is None:  # not a field msgspec named: say what it said
        return InvalidRequest(f"The request is not valid: {message[:200]}.", code="invalid_field")
    return InvalidRequest(
        f'The field "{where}{dotted}" must be {expected(kind)}.', code="invalid_field"
    )
