"""Thin wrapper over an ONNX Runtime session with input checking."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: list[int | str | None]


class OnnxModel:
    """Loads one ONNX file; the model must have a single 2-D input (batch, features)."""

    def __init__(self, path: str | Path, intra_op_threads: int = 0) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 2:
            raise ValueError("expected exactly one input of rank 2 (batch, features)")
        self.input = TensorSpec(inputs[0].name, inputs[0].type, list(inputs[0].shape))
        self.outputs = [TensorSpec(o.name, o.type, list(o.shape)) for o in self.session.get_outputs()]
        if self.input.dtype not in _NUMPY_TYPES:
            raise ValueError(f"unsupported input type {self.input.dtype}")

    @property
    def n_features(self) -> int | None:
        width = self.input.shape[1]
        return width if isinstance(width, int) else None

    def predict(self, instances: list[list[float]]) -> dict[str, list]:
        batch = np.asarray(instances, dtype=_NUMPY_TYPES[self.input.dtype])
        if batch.ndim != 2:
            raise ValueError("instances must be a list of equally long feature lists")
        if self.n_features is not None and batch.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {batch.shape[1]}")
        results = self.session.run(None, {self.input.name: batch})
        return {spec.name: value.tolist() for spec, value in zip(self.outputs, results, strict=True)}
