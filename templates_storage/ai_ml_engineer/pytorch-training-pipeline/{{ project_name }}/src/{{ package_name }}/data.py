"""Datasets and loaders. Replace `load_csv` or add a loader for your own storage format."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

from .config import DataConfig


def synthetic_classification(
    n_samples: int, n_features: int, n_classes: int, seed: int
) -> TensorDataset:
    """Gaussian blobs: a learnable problem for smoke tests and pipeline checks."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, n_features, generator=g) * 3.0
    labels = torch.randint(0, n_classes, (n_samples,), generator=g)
    features = centers[labels] + torch.randn(n_samples, n_features, generator=g)
    return TensorDataset(features, labels)


def load_csv(path: str, target_column: str) -> TensorDataset:
    """Numeric CSV with a header row; `target_column` holds integer class labels."""
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float32)
    names = table.dtype.names or ()
    if target_column not in names:
        raise ValueError(f"column {target_column!r} not found in {path}; columns: {names}")
    feature_names = [n for n in names if n != target_column]
    features = np.stack([table[n] for n in feature_names], axis=1).astype(np.float32)
    labels = table[target_column].astype(np.int64)
    return TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))


def build_dataset(cfg: DataConfig, seed: int) -> TensorDataset:
    if cfg.source == "synthetic":
        return synthetic_classification(cfg.n_samples, cfg.n_features, cfg.n_classes, seed)
    if cfg.source == "csv":
        return load_csv(cfg.csv_path, cfg.target_column)
    raise ValueError(f"unknown data source {cfg.source!r}")


def make_loaders(
    dataset: TensorDataset, cfg: DataConfig, batch_size: int, seed: int
) -> tuple[DataLoader, DataLoader]:
    n_val = max(1, int(len(dataset) * cfg.val_fraction))
    train_set, val_set = random_split(
        dataset, [len(dataset) - n_val, n_val], generator=torch.Generator().manual_seed(seed)
    )
    train_loader = DataLoader(
        train_set, batch_size=batch_size, shuffle=True, num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = DataLoader(val_set, batch_size=batch_size * 2, num_workers=cfg.num_workers)
    return train_loader, val_loader


def dataset_shape(dataset: TensorDataset) -> tuple[int, int]:
    """(n_features, n_classes) inferred from the tensors."""
    features, labels = dataset.tensors
    return int(features.shape[1]), int(labels.max().item()) + 1
