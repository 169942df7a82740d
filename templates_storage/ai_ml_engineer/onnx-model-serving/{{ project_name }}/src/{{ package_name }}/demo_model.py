"""Builds a small softmax-regression ONNX model so the service runs before a real model exists.

Requires the `onnx` package (installed with the dev extra). Replace models/model.onnx with the
export of your own model, e.g. from skl2onnx, torch.onnx.export or tf2onnx.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_demo_model(path: str | Path, n_features: int = 4, n_classes: int = 3, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = numpy_helper.from_array(rng.normal(size=(n_features, n_classes)).astype(np.float32), "W")
    bias = numpy_helper.from_array(np.zeros(n_classes, dtype=np.float32), "B")
    graph = helper.make_graph(
        nodes=[
            helper.make_node("MatMul", ["features", "W"], ["logits_raw"]),
            helper.make_node("Add", ["logits_raw", "B"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
        ],
        name="demo_softmax_regression",
        inputs=[helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n_features])],
        outputs=[
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
        ],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="{{ project_name }}")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
