r"""Multi-label data from CIFAR-10: 2x2 mosaics labelled with the union of their four tiles' classes.

A stand-in for NUS-WIDE and MS-COCO, where an image carries a few labels and two images are relevant
to each other when they share one. How many classes a mosaic shows sets how informative its mAP is:
a random ranking's mAP is about the chance level (`retrieval.hamming.chance_level`), the probability
that two mosaics share a class. With k distinct classes per mosaic, drawn uniformly from C = 10, two
mosaics are irrelevant when their k-sets are disjoint:

    chance(k) = 1 - C(C - k, k) / C(C, k)         (`mosaic_chance_level`)

    k             1     2      3      4      None (four random tiles)
    chance(k)     0.1   0.378  0.708  0.929  about 0.81

k = 2 (`mosaic_classes=2`) is the report's choice: the smallest k that is multi-label (a mosaic has
two labels, a pair of mosaics can share one or both), while chance stays at 17/45 = 0.378, so a
trained model's mAP is far from chance. k = 1 is single-label CIFAR-10 at 64 px; with k >= 3, or four
random tiles (None, the default), almost every pair shares a class and any ranking scores high.
"""

from __future__ import annotations

from math import comb

import numpy as np

from .protocols import check_choice, split_indices

# Mosaics per split. `cifar10` keeps the query and train sizes of the image protocol but holds 20,000
# database mosaics instead of 54,000: 26,000 mosaics of 64x64x3 bytes take 320 MB of memory.
MOSAIC_SIZES = {
    "quick": {"train": 2_000, "query": 500, "database": 5_000},
    "cifar10": {"train": 5_000, "query": 1_000, "database": 20_000},
}
MOSAIC_CLASSES = (1, 2, 3, 4)                   # the choices of k besides None: at most one class per tile


def check_mosaic_classes(classes: int | None) -> None:
    """ValueError unless ``classes`` (k, distinct classes per mosaic) is None or one of MOSAIC_CLASSES."""
    if classes is not None and (isinstance(classes, (bool, float)) or classes not in MOSAIC_CLASSES):
        raise ValueError(f"mosaic_classes must be one of {list(MOSAIC_CLASSES)} (distinct classes per 2x2 mosaic) "
                         f"or None (four random tiles), got {classes!r}")


def mosaic_chance_level(classes: int, num_classes: int = 10) -> float:
    r"""The chance level of mosaics of exactly k classes drawn uniformly from C:

        chance(k) = 1 - C(C - k, k) / C(C, k)

    the probability that two mosaics share a class (one minus the probability that the second k-set
    avoids the first's k classes); k = 2 of 10 gives 17/45 = 0.378.

    Args:
        classes: k, distinct classes per mosaic.
        num_classes: C, the classes they are drawn from.
    """
    return 1 - comb(num_classes - classes, classes) / comb(num_classes, classes)


def draw_sources(pool: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator,
                 classes: int | None = None) -> np.ndarray:
    """The 4 source images of ``count`` mosaics, drawn with replacement from the images ``pool``.

    classes None: 4 images drawn at random. classes k: k distinct classes drawn at random among the
    pool's classes; one tile of each, the other 4 - k tiles of classes drawn among the k; each tile an
    image of its class drawn from the pool; the quadrants in random order.

    Args:
        pool: indices into labels, the images a split may use.
        labels: (N,) class index of every image.
        count: M, mosaics to draw.
        rng: the random stream.
        classes: k (one of MOSAIC_CLASSES) or None.
    Returns:
        (M, 4) indices into labels, quadrants top-left, top-right, bottom-left, bottom-right.
    """
    check_mosaic_classes(classes)
    if count == 0:  # an empty split (val with val_fraction = 0)
        return np.empty((0, 4), np.int64)
    if classes is None:
        return rng.choice(pool, size=(count, 4))
    pool = pool[np.argsort(labels[pool], kind="stable")]                 # grouped by class
    present, first, size = np.unique(labels[pool], return_index=True, return_counts=True)
    if classes > len(present):
        raise ValueError(f"mosaics of {classes} classes need {classes} classes in each split; it has {len(present)}")
    # k distinct classes per mosaic (positions in `present`): the first k of a random permutation, (M, k)
    chosen = rng.random((count, len(present))).argsort(axis=1)[:, :classes]
    # one tile of each chosen class, then 4 - k tiles of a class drawn among the k: (M, 4)
    extra = rng.integers(0, classes, size=(count, 4 - classes))
    tile_class = np.concatenate([chosen, np.take_along_axis(chosen, extra, axis=1)], axis=1)
    tile_class = np.take_along_axis(tile_class, rng.random((count, 4)).argsort(axis=1), axis=1)  # shuffled quadrants
    # an image of each tile's class: a random position in that class's group of the pool, (M, 4)
    return pool[first[tile_class] + rng.integers(0, size[tile_class])]


def mosaic_sources(labels: np.ndarray, n_train_pool: int, protocol: str, seed: int = 0,
                   val_fraction: float = 0.1, classes: int | None = None) -> dict[str, np.ndarray]:
    """Which 4 source images make each mosaic of each split, without leaking queries.

    The images are first split by `split_indices` with the same protocol; each split's mosaics
    (MOSAIC_SIZES, val_fraction of train moved into val) are then drawn by `draw_sources` with
    replacement from that split's images only, so no query image appears in a train, val or database
    mosaic. A mosaic may repeat an image. Train and database mosaics are drawn independently of each other.

    Args:
        labels, n_train_pool, seed, val_fraction: as in `split_indices`.
        protocol: a key of MOSAIC_SIZES.
        classes: k, exactly k distinct classes per mosaic (one of MOSAIC_CLASSES; chance level in the
            module docstring), or None for four random tiles.
    Returns:
        {"train", "val", "query", "database"} -> (M, 4) indices into labels, quadrants in the order
        top-left, top-right, bottom-left, bottom-right.
    """
    check_choice("protocol for cifar10-mosaic", protocol, MOSAIC_SIZES)
    check_mosaic_classes(classes)
    images_of = split_indices(labels, n_train_pool, protocol, seed, val_fraction)
    sizes = dict(MOSAIC_SIZES[protocol], val=round(val_fraction * MOSAIC_SIZES[protocol]["train"]))
    sizes["train"] -= sizes["val"]
    rng = np.random.default_rng([seed, 1])     # a stream independent of the split's
    return {name: draw_sources(images_of[name], labels, sizes[name], rng, classes) for name in images_of}


def mosaic_labels(labels: np.ndarray, sources: np.ndarray, num_classes: int) -> np.ndarray:
    """Multi-hot float32 (M, C) labels of mosaics: the union of their tiles' classes.

    Args:
        labels: (N,) class indices.
        sources: (M, 4) indices into labels.
        num_classes: C, the length of the multi-hot vectors.
    """
    multi_hot = np.zeros((len(sources), num_classes), np.float32)
    multi_hot[np.arange(len(sources))[:, None], labels[sources]] = 1.0
    return multi_hot


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
    return grid.reshape(m, 2 * h, 2 * w, 3), mosaic_labels(labels, sources, num_classes)
