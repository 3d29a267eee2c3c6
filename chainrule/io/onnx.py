"""Export a trained Dense/activation network to ONNX, to run it in any ONNX runtime.

The graph reproduces ``net.predict_proba`` at the user boundary, with examples on the FIRST axis:

    input  "X"              float32 (m, n[0])
    [Sub(mean), Div(scale)]  the stored Standardizer, when the network has one
    Gemm(A, W[l], b[l], transB=1)   A @ W[l].T + b[l] = (W[l] @ A.T + b[l]).T : (m, n[l])
    Sigmoid / Tanh / Relu / LeakyRelu / Softmax(axis=-1) / (identity: nothing)
    output "probabilities"  float32 (m, n[L])

Inside chainrule examples lie on the last axis (Z = W @ A_prev + b); ONNX runtimes expect them on
the first, so each Dense layer becomes the transposed product, which Gemm computes with transB=1
without ever transposing W. Weights are stored as float32. Dropout layers (identity at prediction
time) are skipped. onnx is an optional extra: ``pip install 'chainrule[onnx]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule.nn.activation import (
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from chainrule.nn.dense import Dense

__all__ = ["to_onnx", "OPSET", "INPUT_NAME", "OUTPUT_NAME"]

#: the ONNX operator set the exported graphs use (Softmax with axis=-1 needs >= 13)
OPSET = 17
#: IR version 8 is read by onnxruntime >= 1.10 and by most other runtimes
IR_VERSION = 8
INPUT_NAME = "X"
OUTPUT_NAME = "probabilities"

INSTALL = "pip install 'chainrule[onnx]'  (or: pip install onnx onnxruntime)"

_ELEMENTWISE = {Sigmoid: "Sigmoid", Tanh: "Tanh", ReLU: "Relu"}


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError(
            f"ONNX export needs the package 'onnx'; install it with: {INSTALL}"
        ) from None
    return onnx


def _build_graph(net: Any, onnx: Any) -> Any:
    helper, TensorProto = onnx.helper, onnx.TensorProto
    nodes: list[Any] = []
    inits: list[Any] = []
    current = INPUT_NAME
    used: set[str] = {INPUT_NAME, OUTPUT_NAME}

    def const(name: str, value: np.ndarray) -> str:
        inits.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        while name in used:  # e.g. two activations in a row: keep output names unique
            name += "_"
        used.add(name)
        nodes.append(helper.make_node(op, inputs, [name], name=name + "_node", **attrs))
        return name

    if len(net.input_shape) != 1:
        raise ValueError(
            f"ONNX export supports networks on flat inputs (m, n[0]); this one expects "
            f"per-example shape {net.input_shape}"
        )
    if net.standardizer is not None:
        st = net.standardizer
        mean = const("standardizer_mean", np.asarray(st.mean_).reshape(1, -1))  # (1, n[0])
        scale = const("standardizer_scale", np.asarray(st.scale_).reshape(1, -1))  # (1, n[0])
        current = node("Sub", [current, mean], "centered")
        current = node("Div", [current, scale], "standardized")
    l = 0
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            l += 1
            W = const(f"W{l}", layer.W)  # (n[l], n[l-1]); Gemm's transB=1 uses W.T
            b = const(f"b{l}", layer.b.reshape(-1))  # (n[l],), broadcast over the m rows
            current = node("Gemm", [current, W, b], f"Z{l}", transB=1)
        elif isinstance(layer, Identity):
            continue
        elif type(layer) in _ELEMENTWISE:
            current = node(_ELEMENTWISE[type(layer)], [current], f"A{l}")
        elif isinstance(layer, LeakyReLU):
            current = node("LeakyRelu", [current], f"A{l}", alpha=float(layer.alpha))
        elif isinstance(layer, Softmax):
            current = node("Softmax", [current], f"A{l}", axis=-1)
        elif type(layer).__name__ == "Dropout":
            continue  # identity at prediction time
        else:
            raise TypeError(
                f"ONNX export supports Dense, activation and Dropout layers; layer {i} is "
                f"{type(layer).__name__}"
            )
    if current == INPUT_NAME:
        current = node("Identity", [current], "passthrough")
    nodes.append(helper.make_node("Identity", [current], [OUTPUT_NAME], name="output_node"))
    n0, nL = net.input_shape[0], net.n_outputs
    graph = helper.make_graph(
        nodes,
        "chainrule_sequential",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["m", n0])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["m", nL])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="chainrule",
        doc_string=repr(net),
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def to_onnx(net: Any, path: str | Path | None = None) -> Any:
    """Build the ONNX model of ``net`` (and write it to ``path`` when given); return the model.

    Running it on float32 X (m, n[0]) gives the same (m, n[L]) array as ``net.predict_proba(X)``.
    """
    if not (isinstance(getattr(net, "layers", None), list) and hasattr(net, "input_shape")):
        raise TypeError(f"to_onnx needs a chainrule Sequential network, got {type(net).__name__}")
    onnx = _import_onnx()
    model = _build_graph(net, onnx)
    if path is not None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(model.SerializeToString())
        tmp.replace(path)
    return model
