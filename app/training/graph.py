"""A YOLOX-layout ONNX graph as a trainable torch module: the Conv weights of the graph become
parameters and its nodes run one by one, so no converter package (nor its torchvision) is needed.

The exported YOLOX graph has batch norms folded into the convolutions and the objectness and
class sigmoids inside; training runs on the logits before those sigmoids (forward(logits=True)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import onnx
import torch
from onnx import numpy_helper
from torch import nn
from torch.nn import functional

# The ops of YOLOX exports (Nano, Tiny, S ... at opset 11): Focus slices, SiLU as x * sigmoid(x),
# SPP max pools, nearest upsampling, the head's reshape and transpose.
SUPPORTED_OPS = (
    "Conv",
    "Sigmoid",
    "Mul",
    "Add",
    "Concat",
    "Slice",
    "MaxPool",
    "Resize",
    "Reshape",
    "Transpose",
)
PRIOR_PROB = 0.01  # YOLOX's initial class and objectness probability for a class of its own
TRAINS = (
    "train takes YOLOX-layout ONNX models (output [1, N, 5+C] over strides 8/16/32, the "
    "YOLOX Nano/Tiny/S/M/L/X exports)"
)


class LayoutError(ValueError):
    """A base model whose graph is not one train can import; the message says which train."""


@dataclass(frozen=True)
class HeadLevel:
    """One output level of the YOLOX head: the value names of its three predictions."""

    reg: str  # (B, 4, H, W) box offsets and log sizes
    obj_logit: str  # (B, 1, H, W), before the graph's sigmoid
    cls_logit: str  # (B, C, H, W), before the graph's sigmoid
    cls_weight: str  # the initializer names of the class conv
    cls_bias: str


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def find_head(graph) -> list[HeadLevel]:
    """The head levels, in output order; raises LayoutError when the graph has no YOLOX head."""
    producer = {out: node for node in graph.node for out in node.output}
    try:
        transpose = producer[graph.output[0].name]
        concat = producer[transpose.input[0]]
        if transpose.op_type != "Transpose" or concat.op_type != "Concat":
            raise KeyError(concat.op_type)
        levels = []
        for reshaped in concat.input:
            level = producer[producer[reshaped].input[0]]
            reg, obj, cls = (producer[name] for name in level.input)
            if (obj.op_type, cls.op_type) != ("Sigmoid", "Sigmoid"):
                raise KeyError(obj.op_type)
            conv = producer[cls.input[0]]
            if conv.op_type != "Conv" or len(conv.input) < 3:
                raise KeyError(conv.op_type)
            levels.append(
                HeadLevel(reg.output[0], obj.input[0], cls.input[0], conv.input[1], conv.input[2])
            )
    except (KeyError, IndexError, ValueError):
        raise LayoutError(f"{TRAINS}; this graph has no YOLOX head") from None
    if len(levels) != 3:
        raise LayoutError(f"{TRAINS}; this graph has {len(levels)} output levels, not 3")
    return levels


def resized_head(
    weight: torch.Tensor, bias: torch.Tensor, sources: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The class conv for new classes: class k starts as the mean of the base rows sources[k]
    (a base class it continues, e.g. vehicle <- car, truck, bus), or at the YOLOX prior."""
    rows_w, rows_b = [], []
    for picked in sources:
        if picked:
            rows_w.append(weight[picked].mean(0))
            rows_b.append(bias[picked].mean(0))
        else:
            rows_w.append(torch.zeros_like(weight[0]))
            rows_b.append(torch.tensor(-math.log((1 - PRIOR_PROB) / PRIOR_PROB)))
    return torch.stack(rows_w), torch.stack(rows_b).to(bias.dtype)


class YoloxGraph(nn.Module):
    """The ONNX graph executed by torch. Parameters are named p0, p1, ... in initializer order;
    `names` maps each to its ONNX initializer name, for writing them back (export.py)."""

    def __init__(self, proto: onnx.ModelProto, sources: list[list[int]]) -> None:
        super().__init__()
        graph = proto.graph
        self.nodes = list(graph.node)
        unknown = sorted({n.op_type for n in self.nodes} - set(SUPPORTED_OPS))
        if unknown:
            raise LayoutError(f"{TRAINS}; this graph has ops train does not run: {unknown}")
        self.head = find_head(graph)
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        conv_inputs = {i for n in self.nodes if n.op_type == "Conv" for i in n.input[1:]}
        self.params = nn.ParameterDict()
        self.names: dict[str, str] = {}  # parameter key -> initializer name
        self.constants: dict[str, list] = {}
        self.num_classes = len(sources)
        for index, tensor in enumerate(graph.initializer):
            value = torch.from_numpy(numpy_helper.to_array(tensor).copy())
            if tensor.name in conv_inputs:
                self.names[f"p{index}"] = tensor.name
                self.params[f"p{index}"] = nn.Parameter(value.float())
            else:
                self.constants[tensor.name] = value.tolist()
        self.key = {name: key for key, name in self.names.items()}
        for level in self.head:
            w, b = self.param(level.cls_weight), self.param(level.cls_bias)
            new_w, new_b = resized_head(w.data, b.data, sources)
            self.params[self.key[level.cls_weight]] = nn.Parameter(new_w)
            self.params[self.key[level.cls_bias]] = nn.Parameter(new_b)
        self._silu = _silu_pairs(self.nodes)
        self._silu_out = set(self._silu.values())
        self._body = _body(self.nodes, self.head, set(self._silu))
        self.backbone_keys = _backbone_keys(self.nodes, self.key)
        self.head_keys = _head_keys(self.nodes, self.head, self.key)

    def param(self, name: str) -> torch.Tensor:
        return self.params[self.key[name]]

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) BGR 0-255 -> per level (B, 5+C, h, w): reg, objectness and class logits."""
        values = {self.input_name: x}
        for node in self._body:
            values[node.output[0]] = self._run(node, values)
        return [
            torch.cat([values[lv.reg], values[lv.obj_logit], values[lv.cls_logit]], 1)
            for lv in self.head
        ]

    def forward(self, x: torch.Tensor, logits: bool = True) -> torch.Tensor:
        """(B, N, 5+C) rows in the ONNX output's order; sigmoids applied unless logits."""
        rows = torch.cat([level.flatten(2) for level in self.levels(x)], 2).transpose(1, 2)
        if logits:
            return rows
        return torch.cat([rows[..., :4], rows[..., 4:].sigmoid()], -1)

    def _value(self, name: str, values: dict):
        if name in values:
            return values[name]
        if name in self.key:
            return self.params[self.key[name]]
        return self.constants[name]

    def _run(self, node, values: dict) -> torch.Tensor:
        op, a = node.op_type, _attrs(node)
        if op == "Mul" and node.output[0] in self._silu_out:
            return functional.silu(values[node.input[0]])
        args = [self._value(name, values) if name else None for name in node.input]
        if op == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            return functional.conv2d(
                args[0],
                args[1],
                args[2] if len(args) > 2 else None,
                stride=a.get("strides", 1),
                padding=pads[:2],
                dilation=a.get("dilations", 1),
                groups=a.get("group", 1),
            )
        if op in ("Mul", "Add"):
            return args[0] * args[1] if op == "Mul" else args[0] + args[1]
        if op == "Sigmoid":
            return torch.sigmoid(args[0])
        if op == "Concat":
            return torch.cat(args, a["axis"])
        if op == "MaxPool":
            return functional.max_pool2d(args[0], a["kernel_shape"], a["strides"], a["pads"][:2])
        if op == "Resize":
            return functional.interpolate(args[0], scale_factor=tuple(args[2][2:]), mode="nearest")
        if op == "Slice":
            return _slice(*args)
        if op == "Reshape":  # the head's [1, 5+C, -1]: the batch is x's own
            return args[0].reshape(args[0].shape[0], args[0].shape[1], -1)
        return args[0].permute(*a["perm"])  # Transpose


def _slice(data, starts, ends, axes=None, steps=None) -> torch.Tensor:
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    index = [slice(None)] * data.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis] = slice(start, min(end, data.shape[axis]), step)
    return data[tuple(index)]


def _body(nodes, head: list[HeadLevel], silu_sigmoids: set[str]) -> list:
    """The nodes to run for the head's logits: not the head's sigmoids nor what follows them
    (concat, reshape, transpose), nor the sigmoids that run inside a SiLU."""
    logits = {lv.obj_logit for lv in head} | {lv.cls_logit for lv in head}
    after: set[str] = set()
    body = []
    for node in nodes:
        if (node.op_type == "Sigmoid" and node.input[0] in logits) or after & set(node.input):
            after |= set(node.output)
        elif node.output[0] not in silu_sigmoids:
            body.append(node)
    return body


def _silu_pairs(nodes) -> dict[str, str]:
    """Sigmoid output -> the Mul output that makes x * sigmoid(x), where the sigmoid feeds
    nothing else: those pairs run as one SiLU (less memory kept for the backward pass)."""
    sigmoid_of = {n.output[0]: n.input[0] for n in nodes if n.op_type == "Sigmoid"}
    uses: dict[str, int] = {}
    for n in nodes:
        for name in n.input:
            uses[name] = uses.get(name, 0) + 1
    pairs = {}
    for n in nodes:
        if n.op_type == "Mul" and len(n.input) == 2:
            x, s = n.input
            if sigmoid_of.get(s) == x and uses[s] == 1:
                pairs[s] = n.output[0]
    return pairs


def _head_keys(nodes, head: list[HeadLevel], key: dict[str, str]) -> set[str]:
    """Parameters of the head's convs: per level, its stem (the last conv that both the class
    and the box predictions come from) and the convs between it and the predictions."""
    producer = {out: node for node in nodes for out in node.output}

    def convs_above(name: str) -> list:
        seen, todo, found = set(), [name], []
        while todo:
            node = producer.get(todo.pop())
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            found += [node] if node.op_type == "Conv" else []
            todo += node.input
        return found

    order = {id(node): i for i, node in enumerate(nodes)}
    found: set[str] = set()
    for level in head:
        cls_path, box_path = convs_above(level.cls_logit), convs_above(level.reg)
        shared = {id(n) for n in cls_path} & {id(n) for n in box_path}
        stem = max(shared, key=order.__getitem__)
        for node in cls_path + box_path + convs_above(level.obj_logit):
            if id(node) not in shared or id(node) == stem:
                found |= {key[name] for name in node.input[1:] if name in key}
    return found


def _backbone_keys(nodes, key: dict[str, str]) -> set[str]:
    """Parameters of the convs before the first upsampling: the backbone, trained slower."""
    found = set()
    for node in nodes:
        if node.op_type == "Resize":
            break
        if node.op_type == "Conv":
            found |= {key[name] for name in node.input[1:] if name in key}
    return found
