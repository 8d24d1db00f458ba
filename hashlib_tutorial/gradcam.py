r"""Grad-CAM for hashing networks: which pixels make an image's code agree with a query's code?

Grad-CAM (Selvaraju et al., ICCV 2017) weights the feature maps A^c of a layer by the spatial mean of
the gradient of a scalar score y with respect to them, keeps the positive part and upsamples it:

    alpha_c = mean_ij d y / d A^c_ij                 one weight per channel c
    CAM     = relu( sum_c alpha_c A^c )              (h, w), then resized to the input and scaled to [0, 1]

A classifier uses the class logit as y. A hashing network has no class to explain: here y is the
similarity of the image's code with a query's code (:class:`CodeSimilarityTarget`),

    y = (u - c) . b_q           u: relaxed code of the image (K,), b_q in {-1, +1}^K: the query's code

so the map shows the regions that push the image's code towards the query's code. For the image's
own code (b_q = sign(u)) it shows what the code "looks at"; for another image's code, why the two
are neighbours in Hamming space.

Why the relaxed code u and not the binary code sign(u)? sign is flat almost everywhere, so
d sign(u) / du = 0 and every alpha_c would be 0: Grad-CAM would return an empty map. The relaxed code
(tanh, linear or shrink-sigmoid output of the hash layer) is what the network was trained through,
and for a well quantised code, (u - c) . b_q is a smooth stand-in for K - 2 d_H(b, b_q), the
Hamming affinity.

Uses pytorch-grad-cam (``pip install grad-cam``); its targets are callables on one sample's output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .retrieval.hamming import as_bits, to_numpy


class CodeOutput(nn.Module):
    r"""A hashing model seen as one [B, K] output: its relaxed codes, without the classifier's logits.

    pytorch-grad-cam needs a model that returns a single tensor; :class:`~hashlib_tutorial.model.network.HashingModel`
    returns (codes, logits). For a multi-length model (ADMTH) the codes of every length are
    concatenated; ``columns`` picks one length, e.g. ``slice(16, 48)`` for the 32-bit branch of (16, 32).

    Args:
        model: a model whose forward returns (codes (B, sum K), logits or None).
        columns: the bits to keep, or None for all.
    Shape: (B, 3, H, W) -> (B, K)
    """

    def __init__(self, model: nn.Module, columns: slice | None = None):
        super().__init__()
        self.model = model
        self.columns = columns

    def forward(self, images: Tensor) -> Tensor:
        codes, _ = self.model(images)  # relaxed codes u: (B, sum K); the logits are dropped
        return codes if self.columns is None else codes[:, self.columns]


class CodeSimilarityTarget:
    r"""Grad-CAM target: the similarity of a relaxed code with a query's binary code.

        y = sum_k (u_k - c) b_k       u: relaxed code (K,), b in {-1, +1}^K, c: the relaxation's centre

    The centre c is the threshold of the method's binarisation: 0 for tanh and linear codes
    (DPFAH, DPSH, ADMTH), 1/2 for DAH's shrink sigmoid (bit = 1 where x > 1/2). Subtracting it makes a
    bit that agrees with the query count positively and one that disagrees negatively.

    Do not use sign(u): its gradient is zero almost everywhere, so the CAM would be empty (see the
    module docstring).

    Args:
        query_code: the query's code (K,), {-1, +1} or {0, 1}, numpy or torch.
        center: c, the binarisation threshold of the relaxed code.
    """

    def __init__(self, query_code: Any, center: float = 0.0):
        code = to_numpy(query_code)
        if code.ndim != 1:
            raise ValueError(f"query_code must be one code (K,), got shape {code.shape}; pass one target per image")
        bits = as_bits(code[None, :], "query_code")[0]
        self.query_code = torch.from_numpy(np.where(bits, 1.0, -1.0).astype(np.float32))  # b: (K,)
        self.center = float(center)

    def __call__(self, model_output: Tensor) -> Tensor:
        """y for one sample's relaxed code (K,) (or a batch (B, K) -> (B,))."""
        if model_output.shape[-1] != len(self.query_code):
            raise ValueError(f"the model gives {model_output.shape[-1]}-bit codes but the query code has "
                             f"{len(self.query_code)} bits; use CodeOutput(model, columns=...) or the matching code")
        b = self.query_code.to(device=model_output.device, dtype=model_output.dtype)
        return (model_output - self.center) @ b


def cam_for(model: nn.Module, images: Tensor, target_layer: nn.Module, query_code: Any,
            center: float = 0.0, columns: slice | None = None) -> np.ndarray:
    r"""Grad-CAM maps of ``images`` for the similarity of their relaxed codes with ``query_code``.

    Args:
        model: a hashing model returning (codes, logits); it is put in eval mode (by GradCAM).
        images: normalised input batch (B, 3, H, W), on the model's device.
        target_layer: the module whose output maps are weighted, e.g. ``model.backbone.layers[1]``.
            Its output must still have a spatial extent: a 1 x 1 map (ResNet-18's last stage on
            32 px inputs with the ImageNet stem) gives a constant, uninformative CAM.
        query_code: one code (K,) used for every image, or one per image (B, K); {-1, +1} or {0, 1}.
        center: the binarisation threshold of the relaxed code (0, or 1/2 for DAH).
        columns: the bits of a multi-length model to explain (see :class:`CodeOutput`).
    Returns:
        float32 maps in [0, 1], one per image, resized to the input.
    Shape:
        (B, 3, H, W) -> (B, H, W)
    """
    from pytorch_grad_cam import GradCAM

    codes = to_numpy(query_code)
    codes = np.broadcast_to(codes, (len(images), codes.shape[-1])) if codes.ndim == 1 else codes
    if len(codes) != len(images):
        raise ValueError(f"got {len(codes)} query codes for {len(images)} images; pass one code or one per image")
    targets = [CodeSimilarityTarget(code, center) for code in codes]
    with GradCAM(model=CodeOutput(model, columns), target_layers=[target_layer]) as cam:
        maps = cam(input_tensor=images, targets=targets)  # (B, H, W), each scaled to [0, 1]
    return maps.astype(np.float32)


def central_box(height: int, width: int, fraction: float = 0.5) -> np.ndarray:
    """A centred box whose sides are ``fraction`` of the image's, as a mask.

    CIFAR-10 has no object masks or boxes; its objects are roughly centred, so the central box is a
    crude proxy for "the object" when asking where a map puts its heat (:func:`heat_share`).

    Args:
        height, width: the map's size.
        fraction: the box's side over the image's side, in (0, 1].
    Returns:
        bool mask, True inside the box.
    Shape:
        (height, width)
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    mask = np.zeros((height, width), dtype=bool)
    box_h, box_w = round(fraction * height), round(fraction * width)
    top, left = (height - box_h) // 2, (width - box_w) // 2
    mask[top:top + box_h, left:left + box_w] = True
    return mask


def heat_share(maps: np.ndarray, region: np.ndarray) -> np.ndarray:
    r"""The share of each map's heat that falls inside a region:

        share = sum_{(i, j) in R} L_ij / sum_{i, j} L_ij

    A uniform map's share is the region's area fraction |R| / (H W), the number to compare with; an
    all-zero map has share 0.

    Args:
        maps: Grad-CAM maps (B, H, W), non-negative.
        region: bool mask (H, W), e.g. :func:`central_box`.
    Returns:
        float64 shares in [0, 1].
    Shape:
        (B, H, W), (H, W) -> (B,)
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.shape[1:] != region.shape:
        raise ValueError(f"maps are {maps.shape[1:]} but the region is {region.shape}; build it with the maps' size")
    total = maps.sum(axis=(1, 2))
    inside = maps[:, region].sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
