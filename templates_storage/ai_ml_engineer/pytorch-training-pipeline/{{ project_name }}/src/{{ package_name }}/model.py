"""Model definitions."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Feed-forward classifier: [Linear -> LayerNorm -> GELU -> Dropout] x N -> Linear."""

    def __init__(self, in_features: int, hidden_sizes: list[int], n_classes: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
