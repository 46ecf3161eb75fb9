"""Writing a trained model: its weights back into the base ONNX graph's initializers, the head
resized, the batch freed, metadata the server reads; checked against torch before writing.

No torch.onnx exporter: the base graph already is the network, so only its numbers change (and
torch 2.13's exporter would need onnxscript for the dynamo path)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from .graph import YoloxGraph
from .settings import TRAINING_KEY

MAX_ABS_DIFF = 2e-3  # onnxruntime vs torch on the same input (float32, different kernels)


class ExportMismatch(RuntimeError):
    """The written graph does not compute what the torch model does."""


def metadata(names: tuple[str, ...], input_wh: tuple[int, int], training: dict) -> dict:
    """names as Ultralytics writes them ({0: 'car'}, read by detector/labels.py), imgsz as
    [height, width], and the training record as strict JSON (a NaN, as an older checkpoint's
    unscored epochs hold, becomes null: JSON.parse and jq refuse NaN)."""
    return {
        "names": repr(dict(enumerate(names))),
        "imgsz": json.dumps([input_wh[1], input_wh[0]]),
        TRAINING_KEY: json.dumps(_finite(training), sort_keys=True, allow_nan=False),
    }


def _finite(value):
    """value with every NaN or infinite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_onnx(base: onnx.ModelProto, model: YoloxGraph, meta: dict[str, str]) -> bytes:
    """The base graph with the model's weights, a head of model.num_classes, batch axis free."""
    proto = onnx.ModelProto()
    proto.CopyFrom(base)
    graph = proto.graph
    values = {model.names[k]: p.detach().float().cpu().numpy() for k, p in model.params.items()}
    width = 5 + model.num_classes
    reshape_targets = {n.input[1] for n in graph.node if n.op_type == "Reshape"}
    for index, tensor in enumerate(graph.initializer):
        if tensor.name in values:
            array = np.ascontiguousarray(values[tensor.name], np.float32)
        elif tensor.name in reshape_targets:  # [1, 85, -1] -> [0, 5+C, -1]: any batch
            array = np.array([0, width, -1], np.int64)
        else:
            continue
        graph.initializer[index].CopyFrom(numpy_helper.from_array(array, tensor.name))
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    out_dims = graph.output[0].type.tensor_type.shape.dim
    out_dims[0].dim_param = "batch"
    if len(out_dims) == 3:
        out_dims[2].dim_value = width
    del graph.value_info[:]
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def check_export(data: bytes, model: YoloxGraph, samples: torch.Tensor) -> float:
    """Max |onnxruntime - torch| on samples (B, 3, H, W), run as one batch; raises
    ExportMismatch over MAX_ABS_DIFF."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = session.run(None, {name: samples.float().contiguous().numpy()})[0]
    with torch.no_grad():
        want = model(samples.float(), logits=False).numpy()
    if got.shape != want.shape:
        raise ExportMismatch(f"exported output {got.shape}, torch {want.shape}")
    diff = float(np.abs(got - want).max())
    if not diff <= MAX_ABS_DIFF:
        raise ExportMismatch(f"exported model differs from torch by {diff:.2e}")
    return diff
