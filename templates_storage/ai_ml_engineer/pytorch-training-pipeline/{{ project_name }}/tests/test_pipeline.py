import json
from pathlib import Path

import numpy as np
import pytest
import torch

from {{ package_name }}.config import Config
from {{ package_name }}.data import load_csv, synthetic_classification
from {{ package_name }}.model import MLP
from {{ package_name }}.train import load_model, train


def small_config(tmp_path: Path) -> Config:
    cfg = Config.from_yaml(Path(__file__).parent.parent / "configs" / "default.yaml")
    cfg.device = "cpu"
    cfg.output_dir = str(tmp_path / "run")
    cfg.data.n_samples = 600
    cfg.data.n_features = 8
    cfg.train.epochs = 6
    cfg.train.batch_size = 64
    cfg.train.learning_rate = 0.01
    return cfg


def test_model_output_shape() -> None:
    model = MLP(in_features=8, hidden_sizes=[16, 8], n_classes=3, dropout=0.0)
    assert model(torch.randn(5, 8)).shape == (5, 3)


def test_synthetic_data_is_deterministic() -> None:
    a = synthetic_classification(50, 4, 2, seed=1).tensors[0]
    b = synthetic_classification(50, 4, 2, seed=1).tensors[0]
    assert torch.equal(a, b)


def test_unknown_config_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochz: 3\n")
    with pytest.raises(ValueError, match="epochz"):
        Config.from_yaml(path)


def test_load_csv(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    rows = np.array([[0.1, 0.2, 0], [0.3, 0.4, 1], [0.5, 0.6, 1]])
    np.savetxt(path, rows, delimiter=",", header="a,b,label", comments="")
    features, labels = load_csv(str(path), "label").tensors
    assert features.shape == (3, 2)
    assert labels.tolist() == [0, 1, 1]


def test_training_learns_and_checkpoints(tmp_path: Path) -> None:
    cfg = small_config(tmp_path)
    summary = train(cfg)
    history = summary["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert summary["final_val_accuracy"] > 0.8

    run = Path(cfg.output_dir)
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == len(history)
    model = load_model(run / "best.pt")
    assert model(torch.randn(2, 8)).shape == (2, 3)


def test_training_is_reproducible(tmp_path: Path) -> None:
    first = train(small_config(tmp_path / "a"))["history"]
    second = train(small_config(tmp_path / "b"))["history"]
    assert [h["val_loss"] for h in first] == pytest.approx([h["val_loss"] for h in second])
