"""Attention blocks used by the three papers: SE (ADMTH), CBAM (DAH) and SimAM (DPFAH).

Every block takes ``channels`` as its first argument and maps (B, C, H, W) -> (B, C, H, W), so the
registry :func:`build_attention` can build any of them the same way.

References:
    SE:    Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018.
    CBAM:  Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
    SimAM: Yang et al., "SimAM: A Simple, Parameter-Free Attention Module", ICML 2021.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SEBlock(nn.Module):
    r"""Squeeze-and-Excitation channel attention, ADMTH's channel attention module.

        G_c = mean_ij D_c(i, j)            squeeze            (ADMTH Eq. 2)
        E   = sigmoid(W2 relu(W1 G))       excitation, r = 16 (ADMTH Eq. 3)
        f_c = D_c * E_c                    rescale            (ADMTH Eq. 4)

    Args:
        channels: C, input and output channels.
        reduction: r, the hidden width is max(1, C // r).
    Shape: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze_to_hidden = nn.Linear(channels, hidden, bias=False)  # W1
        self.hidden_to_gate = nn.Linear(hidden, channels, bias=False)  # W2

    def forward(self, x: Tensor) -> Tensor:
        g = x.mean(dim=(2, 3))  # G: (B, C)
        e = torch.sigmoid(self.hidden_to_gate(F.relu(self.squeeze_to_hidden(g))))  # E: (B, C)
        return x * e[:, :, None, None]  # f: (B, C, H, W)


class CBAM(nn.Module):
    r"""Convolutional Block Attention Module: a channel gate, then a spatial gate (DAH Sec. III).

        M_c(F) = sigmoid(MLP(avgpool(F)) + MLP(maxpool(F)))       channel gate, shared MLP C -> C/r -> C
        F'     = M_c(F) * F
        M_s(F') = sigmoid(BN(conv7x7([max_c F'; mean_c F'])))     spatial gate
        F''    = M_s(F') * F'

    Differences from the CBAM paper: a BatchNorm after the 7x7 conv (as in the authors' reference
    code); the MLP has biases, the conv has none.

    Args:
        channels: C, input and output channels.
        reduction: r, the MLP's hidden width is max(1, C // r).
        kernel_size: side of the spatial gate's convolution (7 in the paper).
    Shape: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1)

    def forward(self, x: Tensor) -> Tensor:
        # M_c: shared MLP on the average- and max-pooled channel vectors, (B, C)
        channel_gate = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))
        x = x * channel_gate[:, :, None, None]
        # M_s: [max over C; mean over C] -> (B, 2, H, W) -> conv -> BN -> (B, 1, H, W)
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        spatial_gate = torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))
        return x * spatial_gate


class SimAM(nn.Module):
    r"""SimAM: parameter-free 3-D attention from an energy function (DPFAH Eqs. 4-9).

    For a neuron t of one channel with the other M - 1 neurons x_i (M = H W), the minimal energy is

        e_t* = 4 (s^2 + lambda) / ((t - mu)^2 + 2 s^2 + 2 lambda)              (DPFAH Eq. 8)

    with mu, s^2 the mean and variance of the channel. A low energy means t stands out, so the weight is
    1 / e_t*, and

        1 / e_t* = (t - mu)^2 / (4 (s^2 + lambda)) + 1/2
        out      = x * sigmoid(1 / e*)                                           (DPFAH Eq. 9)

    Differences from the paper: mu and s^2 are taken over all M neurons (including t), with
    s^2 = sum (x - mu)^2 / (M - 1), as in the reference code, so one pass serves every neuron.
    On a 1 x 1 map (M = 1; ResNet-18's layer4 at 32 px with the ImageNet stem) the reference code
    divides 0 by 0; here s^2 = 0 there, so 1 / e* = 1/2 and the lone neuron is scaled by sigmoid(1/2),
    the weight of a neuron that does not stand out. The block has no parameters; ``channels`` is accepted (and ignored) so every block is built alike.

    Args:
        channels: ignored.
        e_lambda: lambda, the regulariser (1e-4 in the SimAM paper; its ImageNet runs use 0.1).
    Shape: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int | None = None, e_lambda: float = 1e-4):
        super().__init__()
        self.e_lambda = e_lambda

    def energy_inverse(self, x: Tensor) -> Tensor:
        """1 / e_t* for every neuron, (B, C, H, W): the quantity the sigmoid turns into weights."""
        m = max(x.shape[2] * x.shape[3] - 1, 1)  # M - 1 (1 on a 1 x 1 map, where the sum below is 0)
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)  # (t - mu)^2
        var = d.sum(dim=(2, 3), keepdim=True) / m  # s^2
        return d / (4 * (var + self.e_lambda)) + 0.5

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.energy_inverse(x))

    def extra_repr(self) -> str:
        return f"e_lambda={self.e_lambda}"


ATTENTION: dict[str, type[nn.Module]] = {"se": SEBlock, "cbam": CBAM, "simam": SimAM}


def build_attention(name: str | None, channels: int, **kwargs) -> nn.Module:
    """An attention block by name ("se", "cbam", "simam"); None or "none" gives nn.Identity()."""
    if name is None or name == "none":
        return nn.Identity()
    if name not in ATTENTION:
        raise ValueError(f"unknown attention {name!r}; choose one of {sorted(ATTENTION)} or None")
    return ATTENTION[name](channels, **kwargs)
