"""Training entry point: `python -m {{ package_name }}.train --config configs/default.yaml`."""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .config import Config
from .data import build_dataset, dataset_shape, make_loaders
from .model import MLP

log = logging.getLogger("{{ package_name }}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, device: torch.device) -> dict[str, float]:
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for features, labels in loader:
        features, labels = features.to(device), labels.to(device)
        logits = model(features)
        total_loss += loss_fn(logits, labels).item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    return {"loss": total_loss / seen, "accuracy": correct / seen}


def save_checkpoint(path: Path, model: nn.Module, cfg: Config, epoch: int, metrics: dict[str, float],
                    in_features: int, n_classes: int) -> None:
    torch.save(
        {
            "model_state": model.state_dict(),
            "config": cfg.to_dict(),
            "epoch": epoch,
            "metrics": metrics,
            "in_features": in_features,
            "n_classes": n_classes,
        },
        path,
    )


def load_model(path: str | Path, map_location: str = "cpu") -> MLP:
    """Rebuild the model from a checkpoint written by `train` (weights_only: no pickle execution)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model_cfg = ckpt["config"]["model"]
    model = MLP(ckpt["in_features"], model_cfg["hidden_sizes"], ckpt["n_classes"], model_cfg["dropout"])
    model.load_state_dict(ckpt["model_state"])
    return model.eval()


def train(cfg: Config) -> dict[str, Any]:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    dataset = build_dataset(cfg.data, cfg.seed)
    in_features, n_classes = dataset_shape(dataset)
    train_loader, val_loader = make_loaders(dataset, cfg.data, cfg.train.batch_size, cfg.seed)

    model = MLP(in_features, cfg.model.hidden_sizes, n_classes, cfg.model.dropout).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.learning_rate, weight_decay=cfg.train.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.train.epochs)
    loss_fn = nn.CrossEntropyLoss()

    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))

    best_loss, patience_left, history = math.inf, cfg.train.patience, []
    log.info("training on %s: %d samples, %d features, %d classes", device, len(dataset), in_features, n_classes)
    for epoch in range(1, cfg.train.epochs + 1):
        started = time.perf_counter()
        model.train()
        running, seen = 0.0, 0
        for features, labels in train_loader:
            features, labels = features.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(features), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            optimizer.step()
            running += loss.item() * len(labels)
            seen += len(labels)
        scheduler.step()

        val = evaluate(model, val_loader, loss_fn, device)
        record = {
            "epoch": epoch,
            "train_loss": running / seen,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "lr": scheduler.get_last_lr()[0],
            "seconds": round(time.perf_counter() - started, 3),
        }
        history.append(record)
        log.info(json.dumps(record))

        if val["loss"] < best_loss - 1e-4:
            best_loss, patience_left = val["loss"], cfg.train.patience
            save_checkpoint(out_dir / "best.pt", model, cfg, epoch, val, in_features, n_classes)
        else:
            patience_left -= 1
            if patience_left <= 0:
                log.info("early stopping after epoch %d", epoch)
                break

    summary = {
        "best_val_loss": best_loss,
        "epochs_run": len(history),
        "final_val_accuracy": history[-1]["val_accuracy"],
        "history": history,
    }
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the {{ project_name }} model")
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--output-dir", help="override output_dir")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = Config.from_yaml(args.config)
    if args.epochs is not None:
        cfg.train.epochs = args.epochs
    if args.output_dir:
        cfg.output_dir = args.output_dir
    summary = train(cfg)
    log.info("best val loss %.4f after %d epochs", summary["best_val_loss"], summary["epochs_run"])


if __name__ == "__main__":
    main()
