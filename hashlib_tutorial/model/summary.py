"""How big a network is: parameters and multiply-adds, counted the way the papers' tables count them."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def count_parameters(module: nn.Module) -> int:
    """Every parameter of ``module``, trainable or not."""
    return sum(p.numel() for p in module.parameters())


def multiply_adds(module: nn.Module, x: Tensor) -> int:
    """Multiply-adds of one forward pass, per sample of ``x``, counted in convolutions and linear layers.

        conv:   output elements x (C_in / groups) x k_h x k_w
        linear: D_in x D_out

    Attention blocks, pooling, normalisation and activations are left out (they cost little).

    Args:
        module: set to eval mode for the pass (no gradient is kept).
        x: an input batch, e.g. torch.zeros(1, 3, 32, 32) or torch.zeros(1, D).
    """
    total = 0

    def count(layer: nn.Module, inputs, output: Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            total += output[0].numel() * (layer.in_channels // layer.groups) * kh * kw
        else:
            total += layer.in_features * layer.out_features

    handles = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            module.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
    return total
