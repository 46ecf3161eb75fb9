"""What an ONNX file says without a session: its metadata and its first input and output, read
from the protobuf by hand (the onnx package is a development tool here, not a dependency).

An ONNX file is one serialised ModelProto; only the few fields below are read, and the weights
are skipped over, not parsed. GET /models describes a model not loaded yet from this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .decode import num_classes_from_shape
from .errors import ModelError
from .labels import names_from_metadata, resolve_class_names
from .model import ModelInfo, detect_layout, input_size, read_recommended_settings

# Field numbers of onnx.proto3 (ModelProto and what its graph holds).
GRAPH, METADATA_PROPS = 7, 14  # ModelProto.graph, .metadata_props
INITIALIZER, INPUT, OUTPUT = 5, 11, 12  # GraphProto
TENSOR_NAME = 8  # TensorProto.name (an initializer)
VALUE_NAME, VALUE_TYPE = 1, 2  # ValueInfoProto
TENSOR_TYPE, TENSOR_SHAPE, SHAPE_DIM = (
    1,
    2,
    1,
)  # TypeProto.tensor_type, .shape, TensorShapeProto.dim
DIM_VALUE = 1  # TensorShapeProto.Dimension.dim_value (dim_param, a name, reads as None)
ENTRY_KEY, ENTRY_VALUE = 1, 2  # StringStringEntryProto.key, .value
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class NotAnOnnxModel(ValueError):
    """The bytes do not parse as an ONNX ModelProto."""


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
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


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int, int | memoryview | None]]:
    """(field number, start, end, value) of each top-level field of a message, in order:
    value is a length-delimited field's payload (a memoryview of data, no copy), a varint's
    number, or None; start/end bound the field's bytes, tag included."""
    data = memoryview(data)
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        value: int | memoryview | None = None
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
        elif wire == LENGTH_DELIMITED:
            length, pos = read_varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        else:  # groups: not in ONNX's schema
            raise NotAnOnnxModel(f"unexpected wire type {wire} in field {number}")
        if pos > len(data) or number == 0:
            raise NotAnOnnxModel("a field runs past the end of the message")
        yield number, start, pos, value


def _first(message: memoryview, number: int) -> memoryview | int | None:
    return next((value for n, _, _, value in fields(message) if n == number), None)


def _text(value: memoryview | int | None) -> str:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, memoryview) else ""


def _shape(value_info: memoryview) -> tuple[int | None, ...]:
    """A tensor's dims: a number, or None where it is symbolic ("batch") or unknown."""
    tensor = _first(value_info, VALUE_TYPE)
    tensor = _first(tensor, TENSOR_TYPE) if isinstance(tensor, memoryview) else None
    shape = _first(tensor, TENSOR_SHAPE) if isinstance(tensor, memoryview) else None
    if not isinstance(shape, memoryview):
        return ()
    dims = [dim for n, _, _, dim in fields(shape) if n == SHAPE_DIM]
    values = [_first(dim, DIM_VALUE) if isinstance(dim, memoryview) else None for dim in dims]
    return tuple(v if isinstance(v, int) and v > 0 else None for v in values)


@dataclass(frozen=True)
class OnnxFile:
    """metadata: the file's metadata_props; input_shape / output_shape: the graph's first
    input (an initializer is not one) and first output, None for a symbolic dim."""

    metadata: dict[str, str] = field(default_factory=dict)
    input_shape: tuple[int | None, ...] = ()
    output_shape: tuple[int | None, ...] = ()


def read_onnx_file(data: bytes) -> OnnxFile:
    """The metadata and the first input's and output's shapes of a serialised ModelProto.
    Raises NotAnOnnxModel when the bytes are not one with a graph."""
    metadata, graph = {}, None
    for number, _, _, value in fields(data):
        if number == GRAPH and isinstance(value, memoryview):
            graph = value
        elif number == METADATA_PROPS and isinstance(value, memoryview):
            metadata[_text(_first(value, ENTRY_KEY))] = _text(_first(value, ENTRY_VALUE))
    if graph is None:
        raise NotAnOnnxModel("no graph in it")
    weights, inputs, outputs = [], [], []
    for number, _, _, value in fields(graph):
        if isinstance(value, memoryview) and number in (INITIALIZER, INPUT, OUTPUT):
            {INITIALIZER: weights, INPUT: inputs, OUTPUT: outputs}[number].append(value)
    if len(inputs) > 1:  # older exports list the weights as inputs too: not the image
        names = {_text(_first(weight, TENSOR_NAME)) for weight in weights}
        inputs = [v for v in inputs if _text(_first(v, VALUE_NAME)) not in names]
    first_shape = lambda values: _shape(values[0]) if values else ()  # noqa: E731
    return OnnxFile(metadata, first_shape(inputs), first_shape(outputs))


@dataclass(frozen=True)
class FileFacts:
    """What GET /models tells of a model before it loads. format: its layout's name, None
    where the file's output shape does not say (a symbolic dim); labels: None likewise, unless
    the metadata names them."""

    name: str
    format: str | None
    input_wh: tuple[int, int]
    labels: tuple[str, ...] | None
    recommended_settings: dict[str, str]

    @classmethod
    def of(cls, info: ModelInfo) -> FileFacts:
        """The same facts of a loaded model (what its session found)."""
        recommended = dict(info.recommended_settings)
        return cls(info.name, info.layout.name, info.input_wh, info.class_names, recommended)


def describe_file(
    path: Path, *, layout: str | None = None, labels_path: Path | None = None
) -> FileFacts:
    """The facts load_model would find, from the file alone: no session, no test inference
    (2 to 6 ms for each of the 3-4 MB models of ../shared/models, against a load's 100s).
    layout and labels_path: MODEL_FORMAT and MODEL_LABELS, as load_model takes them.

    Raises ModelError when the file cannot be read or is not an ONNX model.
    """
    try:
        onnx = read_onnx_file(path.read_bytes())
    except (OSError, NotAnOnnxModel) as exc:
        raise ModelError(f"Cannot read the ONNX model {path.name}: {exc}") from exc
    metadata = onnx.metadata
    input_wh = input_size(list(onnx.input_shape), metadata)
    output = (1, *onnx.output_shape[1:]) if onnx.output_shape else ()  # any batch: one here
    static = bool(output) and None not in output
    try:
        name = layout or (detect_layout(output, input_wh, metadata) if static else None)
    except ModelError:
        name = None
    if name is not None and (static or name == "end2end"):
        num_classes = num_classes_from_shape(name, output) if static else None
        labels = resolve_class_names(path, metadata, num_classes, labels_path)
    else:
        labels = names_from_metadata(metadata)
    recommended = read_recommended_settings(metadata, path.stem)
    return FileFacts(path.stem, name, input_wh, labels, recommended)
