"""A model described from its file alone (GET /models before it loads): the same format, input
size, labels and recommended settings as loading it finds, with no session made."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from app.detector import ModelError, load_model
from app.detector.onnx_file import FileFacts, describe_file
from tests.conftest import REPO_ROOT, shared_path

from .onnx_graphs import constant_output_model

MODELS = [
    shared_path("models", "yolox_nano.onnx"),  # no metadata: COCO-80 by its 85 columns
    shared_path("models", "yolov8n_int8.onnx"),  # Ultralytics metadata, [1, 84, 8400]
    shared_path("models", "yolo26n_int8.onnx"),  # end-to-end
    REPO_ROOT / "model" / "aerial-vehicles.onnx",  # a dynamic batch, recommended settings
]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_the_file_says_what_loading_finds(path):
    assert describe_file(path) == FileFacts.of(load_model(path).info)


def test_a_symbolic_output_leaves_format_unknown_but_metadata_labels_stand(tmp_path):
    output = np.zeros((1, 6, 7), np.float32)
    path = constant_output_model(tmp_path / "m.onnx", output, metadata={"names": "['a', 'b']"})
    facts = describe_file(path)
    assert (facts.format, facts.labels, facts.input_wh) == (None, ("a", "b"), (64, 64))
    assert describe_file(path, layout="ultralytics").labels == ("a", "b")


def test_weights_listed_as_inputs_are_not_the_image(tmp_path):
    """Older exports list every initializer among the graph's inputs, sometimes first."""
    weight = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["images", "w"], ["output"])],
        "old_export",
        [
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 3, 1, 1]),
            helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 96, 128]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 96, 128])],
        initializer=[weight],
    )
    path = tmp_path / "old.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert describe_file(path).input_wh == (128, 96)


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x0a\xff"])
def test_what_is_not_an_onnx_model_is_a_model_error(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"bad\.onnx"):
        describe_file(path)
