"""Metadata entries written into an ONNX file without the onnx package: a minimal protobuf edit.

An ONNX file is one serialised ModelProto. Its metadata_props (field 14) are top-level entries
of the message, so a key is set by dropping that key's old entries and appending a new one; every
other byte (the graph, the weights) is copied as it is. The server and `tune` then need no
dependency beyond onnxruntime (the onnx package is a development tool here), and the copy runs
exactly as the original does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

METADATA_PROPS = 14  # ModelProto.metadata_props: repeated StringStringEntryProto
GRAPH = 7  # ModelProto.graph: every model has one
ENTRY_KEY, ENTRY_VALUE = 1, 2  # StringStringEntryProto.key, .value
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class NotAnOnnxModel(ValueError):
    """The bytes do not parse as an ONNX ModelProto."""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the base-128 varint at pos."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise NotAnOnnxModel("a varint runs past the end of the message")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, int, int, bytes | None]]:
    """(field number, start, end, payload of a length-delimited field or None) of each
    top-level field of a message, in order; start/end bound its bytes, tag included."""
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        payload = None
        if wire == VARINT:
            _, pos = _read_varint(data, pos)
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
        elif wire == LENGTH_DELIMITED:
            length, pos = _read_varint(data, pos)
            payload, pos = data[pos : pos + length], pos + length
        else:  # groups: not in ONNX's schema
            raise NotAnOnnxModel(f"unexpected wire type {wire} in field {number}")
        if pos > len(data) or number == 0:
            raise NotAnOnnxModel("a field runs past the end of the message")
        yield number, start, pos, payload


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _entry_key(payload: bytes) -> str | None:
    for number, _, _, value in _fields(payload):
        if number == ENTRY_KEY and value is not None:
            return value.decode("utf-8", "replace")
    return None


def with_metadata(model: bytes, entries: Mapping[str, str]) -> bytes:
    """The serialised ModelProto `model` with each key of entries set to its value: earlier
    entries of those keys are dropped, the new ones appended; all else is kept byte for byte.
    Raises NotAnOnnxModel when the bytes are not a ModelProto with a graph."""
    kept, has_graph = [], False
    for number, start, end, payload in _fields(model):
        has_graph |= number == GRAPH and payload is not None
        if number == METADATA_PROPS and payload is not None and _entry_key(payload) in entries:
            continue
        kept.append(model[start:end])
    if not has_graph:
        raise NotAnOnnxModel("no graph in it")
    for key, value in entries.items():
        entry = _length_delimited(ENTRY_KEY, key.encode()) + _length_delimited(
            ENTRY_VALUE, value.encode()
        )
        kept.append(_length_delimited(METADATA_PROPS, entry))
    return b"".join(kept)


def write_with_metadata(source: Path, target: Path, entries: Mapping[str, str]) -> None:
    """Write a copy of the ONNX file source to target with entries set in its metadata.
    Atomic (a reader never sees half a file), so target may be source itself."""
    data = with_metadata(source.read_bytes(), entries)
    scratch = target.with_name(target.name + ".tmp")
    scratch.write_bytes(data)
    os.replace(scratch, target)
