"""Multi-label data from CIFAR-10: 2x2 mosaics labelled with the union of their four classes."""

from __future__ import annotations

import numpy as np

from .protocols import check_choice, split_indices

# Mosaics per split. `cifar10` keeps the query and train sizes of the image protocol but holds 20,000
# database mosaics instead of 54,000: 26,000 mosaics of 64x64x3 bytes take 320 MB of memory.
MOSAIC_SIZES = {
    "quick": {"train": 2_000, "query": 500, "database": 5_000},
    "cifar10": {"train": 5_000, "query": 1_000, "database": 20_000},
}


def mosaic_sources(labels: np.ndarray, n_train_pool: int, protocol: str, seed: int = 0,
                   val_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Which 4 source images make each mosaic of each split, without leaking queries.

    The images are first split by `split_indices` with the same protocol; each split's mosaics
    (MOSAIC_SIZES, val_fraction of train moved into val) are then drawn with replacement from that
    split's images only, so no query image appears in a train, val or database mosaic. A mosaic may
    repeat an image. Train and database mosaics are drawn independently of each other.

    Args:
        labels, n_train_pool, seed, val_fraction: as in `split_indices`.
        protocol: a key of MOSAIC_SIZES.
    Returns:
        {"train", "val", "query", "database"} -> (M, 4) indices into labels, quadrants in the order
        top-left, top-right, bottom-left, bottom-right.
    """
    check_choice("protocol for cifar10-mosaic", protocol, MOSAIC_SIZES)
    images_of = split_indices(labels, n_train_pool, protocol, seed, val_fraction)
    sizes = dict(MOSAIC_SIZES[protocol], val=round(val_fraction * MOSAIC_SIZES[protocol]["train"]))
    sizes["train"] -= sizes["val"]
    rng = np.random.default_rng([seed, 1])     # a stream independent of the split's
    return {name: rng.choice(images_of[name], size=(sizes[name], 4)) for name in images_of}


def make_mosaics(images: np.ndarray, labels: np.ndarray, sources: np.ndarray,
                 num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """2x2 mosaics of source images; each mosaic is labelled with the union of its 4 classes.

    Args:
        images: uint8 (N, h, w, 3) source images.
        labels: (N,) class indices.
        sources: (M, 4) indices into images, quadrants top-left, top-right, bottom-left, bottom-right.
        num_classes: C, the length of the multi-hot vectors.
    Returns:
        mosaics uint8 (M, 2h, 2w, 3) and multi-hot labels float32 (M, C).
    """
    tiles = images[sources]                                          # (M, 4, h, w, 3)
    m, _, h, w, _ = tiles.shape
    grid = tiles.reshape(m, 2, 2, h, w, 3).transpose(0, 1, 3, 2, 4, 5)  # (M, row, h, col, w, 3)
    multi_hot = np.zeros((m, num_classes), np.float32)
    multi_hot[np.arange(m)[:, None], labels[sources]] = 1.0
    return grid.reshape(m, 2 * h, 2 * w, 3), multi_hot
