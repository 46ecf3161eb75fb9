"""Tiny hand-built ONNX models whose output we control (for layouts with no real model here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_output_model(
    path: Path,
    output: np.ndarray,
    *,
    input_shape: list = (1, 3, 64, 64),
    metadata: dict[str, str] | None = None,
) -> Path:
    """An ONNX file mapping `images` to a fixed `output` tensor (batch dim broadcast).

    The output is Constant + 0 * ReduceMax(images), so the graph really consumes its input
    and a dynamic batch dimension flows through like in a real export.
    """
    nodes = [
        helper.make_node("Constant", [], ["table"], value=numpy_helper.from_array(output)),
        helper.make_node("ReduceMax", ["images"], ["peak"], keepdims=1, axes=[1, 2, 3]),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.float32(0))),
        helper.make_node("Mul", ["peak", "zero"], ["nothing"]),
        helper.make_node("Reshape", ["nothing", "shape"], ["nothing3"]),
        helper.make_node("Add", ["table", "nothing3"], ["output"]),
    ]
    shape_init = numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape")
    graph = helper.make_graph(
        nodes,
        "hand_built",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "rows", "cols"])],
        initializer=[shape_init],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def with_dynamic_batch(source: Path, path: Path) -> Path:
    """A copy of a real export whose batch dimension is dynamic (for batched-inference tests).

    Exports such as YOLOX's bake batch 1 into their Reshape shapes; 0 there means "keep the
    input's dimension" (ONNX Reshape), so the batch flows through unchanged.
    """
    model = onnx.load(str(source))
    shapes = {node.input[1] for node in model.graph.node if node.op_type == "Reshape"}
    for tensor in model.graph.initializer:
        if tensor.name in shapes:
            shape = numpy_helper.to_array(tensor).copy()
            if shape[0] == 1:
                shape[0] = 0
                tensor.CopyFrom(numpy_helper.from_array(shape, tensor.name))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]  # stale batch-1 shapes; onnxruntime infers them again
    onnx.save(model, str(path))
    return path
