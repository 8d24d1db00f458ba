"""A hashing network = backbone + hash head (+ an optional classifier branch); ADMTH's adds its Q_k."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .heads import MultiLengthHead, code_lengths


class HashingModel(nn.Module):
    r"""images -> features phi(x) -> relaxed codes u, and class scores from a classifier branch.

    The classifier reads either the features (DPFAH: a branch beside the hash layer) or the codes
    (DAH: a softmax layer on top of the hash layer). ADMTH has no classifier (``num_classes=None``).

    Args:
        backbone: (B, 3, H, W) -> (B, D), with an ``out_features`` attribute.
        head: (B, D) -> (B, K).
        num_classes: size of the classifier branch, or None for none.
        classify_from: "features" or "codes".
    Returns (forward): codes (B, K) and logits (B, C), or None when there is no classifier.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, num_classes: int | None = None, classify_from: str = "features"):
        super().__init__()
        if classify_from not in ("features", "codes"):
            raise ValueError(f"unknown classify_from {classify_from!r}; choose 'features' or 'codes'")
        self.backbone, self.head, self.classify_from = backbone, head, classify_from
        self.classifier: nn.Module | None = None
        if num_classes is not None:
            width = backbone.out_features if classify_from == "features" else sum(code_lengths(head.bits))
            self.classifier = nn.Linear(width, num_classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        features = self.backbone(images)  # phi(x): (B, D)
        codes = self.head(features)  # u: (B, K)
        if self.classifier is None:
            return codes, None
        return codes, self.classifier(features if self.classify_from == "features" else codes)


class MultiLengthHashingModel(HashingModel):
    r"""ADMTH's network: a :class:`MultiLengthHead` on the trunk, and the learned maps between code lengths

        Q_k: (L_k, L_{k+1}),  Q_k u^(k+1) ~ u^(k)        one per pair of neighbouring lengths (ADMTH Eq. 9)

    which only the consistency loss reads (:func:`losses.admth_consistency`). They are parameters of
    the model so that the optimiser, the checkpoints and DDP treat them like every other weight.

    Args:
        backbone: (B, 3, H, W) -> (B, D), with an ``out_features`` attribute.
        head: the multi-length head, (B, D) -> (B, sum L_k).
        num_classes: size of a classifier branch on the features, or None for none.
    """

    def __init__(self, backbone: nn.Module, head: MultiLengthHead, num_classes: int | None = None):
        super().__init__(backbone, head, num_classes)
        bits = head.bits
        self.projections = nn.ParameterList(
            nn.Parameter(torch.randn(short, long) / long**0.5) for short, long in zip(bits[:-1], bits[1:])
        )
