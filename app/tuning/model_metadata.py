"""Metadata entries written into an ONNX file without the onnx package: a minimal protobuf edit.

An ONNX file is one serialised ModelProto. Its metadata_props (field 14) are top-level entries
of the message, so a key is set by dropping that key's old entries and appending a new one; every
other byte (the graph, the weights) is copied as it is. The server and `tune` then need no
dependency beyond onnxruntime (the onnx package is a development tool here), and the copy runs
exactly as the original does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..detector.onnx_file import (
    ENTRY_KEY,
    ENTRY_VALUE,
    GRAPH,
    LENGTH_DELIMITED,
    METADATA_PROPS,
    NotAnOnnxModel,
    fields,
)

__all__ = ["NotAnOnnxModel", "with_metadata", "write_with_metadata"]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _entry_key(payload: memoryview) -> str | None:
    for number, _, _, value in fields(payload):
        if number == ENTRY_KEY and isinstance(value, memoryview):
            return bytes(value).decode("utf-8", "replace")
    return None


def with_metadata(model: bytes, entries: Mapping[str, str]) -> bytes:
    """The serialised ModelProto `model` with each key of entries set to its value: earlier
    entries of those keys are dropped, the new ones appended; all else is kept byte for byte.
    Raises NotAnOnnxModel when the bytes are not a ModelProto with a graph."""
    kept, has_graph = [], False
    for number, start, end, payload in fields(model):
        is_message = isinstance(payload, memoryview)
        has_graph |= number == GRAPH and is_message
        if number == METADATA_PROPS and is_message and _entry_key(payload) in entries:
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
