"""Hash heads: features (B, D) -> relaxed codes (B, K), and the classifier branch.

Three relaxations of the binary code appear in the papers:
    tanh:           u = tanh(W^T phi(x) + v) in (-1, 1), code b = sign(u)        (ADMTH, DPSH-style)
    linear:         u = W^T phi(x) + v, unbounded, code b = sign(u)                (DPFAH Eq. 10)
    shrink sigmoid: x = 1/4 + 1 / (2 (1 + e^-z)) in (1/4, 3/4), bit = [x > 1/2]   (DAH Eq. 5)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class ShrinkSigmoid(nn.Module):
    r"""DAH's shrink sigmoid, x = 1/4 + 1 / (2 (1 + e^{-z})) = 1/4 + sigmoid(z) / 2, range (1/4, 3/4).

    Keeping x away from 0 and 1 keeps log(1 - |x_1 - x_2|) in DAH's dissimilar-pair loss finite.
    """

    def forward(self, z: Tensor) -> Tensor:
        return 0.25 + 0.5 * torch.sigmoid(z)


ACTIVATIONS = {"tanh": nn.Tanh, "linear": nn.Identity, "shrink_sigmoid": ShrinkSigmoid}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def code_lengths(bits: int | Sequence[int], increasing: bool = False) -> tuple[int, ...]:
    """One code length or several as a tuple, checked once for every caller (heads, methods, runs).

    Args:
        bits: K, or (L_1, L_2, ...).
        increasing: also require distinct, increasing lengths (one model learning several, ADMTH).
    Raises:
        ValueError: a length is not a positive integer, or (``increasing``) the lengths are not increasing.
    """
    lengths = (bits,) if isinstance(bits, int) else tuple(bits)
    if not lengths or any(not isinstance(b, int) or isinstance(b, bool) or b <= 0 for b in lengths):
        raise ValueError(f"bits must be positive integers, got {bits!r}")
    if increasing and list(lengths) != sorted(set(lengths)):
        raise ValueError(f"bits must be distinct and increasing, got {list(lengths)}")
    return lengths


class HashHead(nn.Module):
    r"""A K-unit hash layer: u = act(W^T phi(x) + v) (DPFAH Eq. 10, DAH's hash layer).

    With ``normalize=True`` each bit's pre-activation is standardised over the batch before ``act``
    (batch normalisation without a learned scale or shift; running statistics at evaluation):

        z_k = (w_k^T phi(x) + v_k - mean_batch) / std_batch,   u = act(z)

    Not in the papers: it keeps every bit centred, with unit spread, so a likelihood-only objective
    cannot shrink the codes to the saddle u = 0 (see :class:`~training.methods.DPSH`).

    Args:
        in_features: D, the width of phi(x).
        bits: K, the code length.
        activation: "tanh", "linear" or "shrink_sigmoid" (see the module docstring).
        normalize: standardise each bit over the batch before the activation.
    Shape: (B, D) -> (B, K)
    """

    def __init__(self, in_features: int, bits: int, activation: str = "tanh", normalize: bool = False):
        super().__init__()
        (self.bits,) = code_lengths(bits)
        self.fc = nn.Linear(in_features, bits)
        self.norm = nn.BatchNorm1d(bits, affine=False) if normalize else nn.Identity()
        self.activation = _activation(activation)

    def forward(self, features: Tensor) -> Tensor:
        return self.activation(self.norm(self.fc(features)))


def _mlp(widths: Sequence[int]) -> nn.Sequential:
    """Fully connected layers with ReLU and dropout (AlexNet's fc6/fc7), widths[0] -> ... -> widths[-1].

    He initialisation (for ReLU layers): with PyTorch's default the signal shrinks layer by layer, and a
    random ADMTH model starts with codes |u| of about 0.18 instead of 0.68 (measured on CIFAR-10 at 64 px).
    """
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        fc = nn.Linear(w_in, w_out)
        nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
        nn.init.zeros_(fc.bias)
        layers += [nn.Dropout(0.5), fc, nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class MultiLengthHead(nn.Module):
    r"""ADMTH's multi-task head: one branch per code length, split at a chosen fully connected layer.

        shared = fc_1 .. fc_s (features)                         s = split_at, 0 in the paper
        u^(k)  = tanh(W_k^T branch_k(shared) + v_k)              one branch per length L_k

    With ``hidden=(4096, 4096)`` and ``split_at=0`` each branch owns fc6, fc7 and its hash layer
    (ADMTH's best split, its Table 2); ``split_at=1`` shares fc6, ``split_at=2`` shares fc6 and fc7.
    The forward pass returns the branches concatenated along the bit axis so the model has a single
    (B, sum L_k) output (one tensor for DDP and Grad-CAM); :meth:`split` cuts it back into lengths.

    Args:
        in_features: D, the trunk's feature width.
        bits: the code lengths L_1 < L_2 < ..., e.g. (16, 32, 48, 64).
        hidden: widths of the fully connected layers before the hash layer.
        split_at: how many of those layers are shared (0 .. len(hidden)).
        normalize: standardise each bit over the batch before tanh (see :class:`HashHead`; not in the paper).
    Shape: (B, D) -> (B, sum(bits))
    """

    def __init__(self, in_features: int, bits: Sequence[int], hidden: Sequence[int] = (4096, 4096), split_at: int = 0,
                 normalize: bool = False):
        super().__init__()
        self.bits = code_lengths(bits, increasing=True)
        if not 0 <= split_at <= len(hidden):
            raise ValueError(f"split_at must be in 0..{len(hidden)}, got {split_at}")
        widths = [in_features, *hidden]
        self.shared = _mlp(widths[: split_at + 1])
        self.branches = nn.ModuleList(
            nn.Sequential(_mlp(widths[split_at:]), nn.Linear(widths[-1], b),
                          *([nn.BatchNorm1d(b, affine=False)] if normalize else []), nn.Tanh()) for b in self.bits
        )

    def forward(self, features: Tensor) -> Tensor:
        shared = self.shared(features)
        return torch.cat([branch(shared) for branch in self.branches], dim=1)  # (B, sum L_k)

    def split(self, codes: Tensor) -> list[Tensor]:
        """Cut concatenated codes (B, sum L_k) into one tensor per length [(B, L_1), (B, L_2), ...]."""
        return list(torch.split(codes, self.bits, dim=1))
