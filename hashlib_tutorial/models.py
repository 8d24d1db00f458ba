"""A hashing network = backbone + hash head (+ an optional classifier branch)."""

from __future__ import annotations

from torch import Tensor, nn


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
            width = backbone.out_features if classify_from == "features" else sum(_code_lengths(head))
            self.classifier = nn.Linear(width, num_classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        features = self.backbone(images)  # phi(x): (B, D)
        codes = self.head(features)  # u: (B, K)
        if self.classifier is None:
            return codes, None
        return codes, self.classifier(features if self.classify_from == "features" else codes)


def _code_lengths(head: nn.Module) -> tuple[int, ...]:
    bits = head.bits
    return bits if isinstance(bits, tuple) else (bits,)
