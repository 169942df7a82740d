"""Typed configuration loaded from YAML, so experiments are reproducible from a single file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass
class DataConfig:
    source: str = "synthetic"
    csv_path: str = "data/train.csv"
    target_column: str = "label"
    n_samples: int = 4000
    n_features: int = 16
    n_classes: int = 3
    val_fraction: float = 0.2
    num_workers: int = 0


@dataclass
class ModelConfig:
    hidden_sizes: list[int] = field(default_factory=lambda: [128, 64])
    dropout: float = 0.1


@dataclass
class TrainConfig:
    epochs: int = {{ epochs }}
    batch_size: int = {{ batch_size }}
    learning_rate: float = {{ learning_rate }}
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    patience: int = 5


@dataclass
class Config:
    seed: int = 42
    device: str = "auto"
    output_dir: str = "runs/default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Config:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        return _build(cls, raw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(kind: type, raw: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(kind)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ValueError(f"unknown config keys for {kind.__name__}: {sorted(unknown)}")
    kwargs = {}
    for name, value in raw.items():
        default = known[name].default_factory() if callable(known[name].default_factory) else None
        if is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _build(type(default), value)
        else:
            kwargs[name] = value
    return kind(**kwargs)
