"""CIFAR-10's retrieval protocols: which images are queries, database and training images.

Deep hashing is evaluated by retrieval: each *query* image ranks the *database* by the Hamming
distance between their codes, and mAP scores the ranking. A protocol fixes which images are queries,
which form the database and which train the network. Published numbers are only comparable within
one protocol:

    protocol    query                    train                              database
    cifar10     1,000 (100 per class)    5,000 (500 per class)              the other 54,000
    cifar10-1   1,000 (100 per class)    5,000 (500 per class) of database  the other 59,000
    cifar10-2   the 10,000 test images   the 50,000 training images         the 50,000 training images
    quick       500 (50 per class)       5,000 (500 per class) of database  10,000 (1,000 per class)

`quick` is ours: a CPU-sized subset for the notebooks. Splits are drawn with
`numpy.random.default_rng(seed)`; `RetrievalSplits.save_indices` records them. A validation split is
carved out of the training images (`val_fraction`, per class) to choose epochs and settings: never
select on the query set, as much reference code does. With `val_fraction=0` the network trains on
every training image of the protocol, as the papers do, and keeps its last epoch.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

PROTOCOLS = ("cifar10", "cifar10-1", "cifar10-2", "quick")          # the table above


def check_choice(kind: str, value: str, choices: Collection[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose one of {sorted(choices)}")


def _take_per_class(labels: np.ndarray, candidates: np.ndarray, per_class: int,
                    rng: np.random.Generator) -> np.ndarray:
    """per_class random items of every class, drawn from candidates, in random order."""
    chosen = []
    for c in np.unique(labels):
        members = candidates[labels[candidates] == c]
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} candidates, the protocol needs {per_class}; "
                             "use a smaller protocol such as 'quick'")
        chosen.append(rng.choice(members, per_class, replace=False))
    return rng.permutation(np.concatenate(chosen))


def _carve_validation(train: np.ndarray, labels: np.ndarray, val_fraction: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Move val_fraction of train (of each class; of all items for multi-hot labels) into val."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = [train] if labels.ndim == 2 else [train[labels[train] == c] for c in np.unique(labels[train])]
    val = np.concatenate([rng.choice(g, round(val_fraction * len(g)), replace=False) for g in groups])
    return train[~np.isin(train, val)], rng.permutation(val)


def fixed_splits(labels: np.ndarray, train: np.ndarray, query: np.ndarray, database: np.ndarray,
                  seed: int, val_fraction: float) -> dict[str, np.ndarray]:
    """Splits fixed by the data (official train/test files): only shuffled, and val carved out."""
    rng = np.random.default_rng(seed)
    train, query, database = (rng.permutation(s) for s in (train, query, database))
    train, val = _carve_validation(train, labels, val_fraction, rng)
    return {"train": train, "val": val, "query": query, "database": database}


def split_indices(labels: np.ndarray, n_train_pool: int, protocol: str, seed: int = 0,
                  val_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """The train, val, query and database indices of a protocol (the module's table), from labels alone.

    Each split lists its items in a random order, never grouped by class: with many ties at equal
    Hamming distance, a class-sorted database would bias mAP. val is taken out of train.

    Args:
        labels: (N,) class index of every image of the pool.
        n_train_pool: the first n_train_pool images are the official training images, the rest the test.
        protocol: one of PROTOCOLS.
        seed: seed of numpy.random.default_rng; the same seed gives the same splits.
        val_fraction: fraction of each class of train moved into val.
    Returns:
        {"train", "val", "query", "database"} -> int64 indices into labels.
    """
    check_choice("protocol", protocol, PROTOCOLS)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"protocols are defined per class: labels must be (N,), got {labels.shape}")
    everything = np.arange(len(labels))
    if protocol == "cifar10-2":
        train_images = everything[:n_train_pool]
        return fixed_splits(labels, train_images, everything[n_train_pool:], train_images, seed, val_fraction)
    rng = np.random.default_rng(seed)
    query = _take_per_class(labels, everything, 50 if protocol == "quick" else 100, rng)
    rest = rng.permutation(np.setdiff1d(everything, query))
    if protocol == "cifar10":                    # train and database are disjoint
        train = _take_per_class(labels, rest, 500, rng)
        database = rest[~np.isin(rest, train)]
    elif protocol == "cifar10-1":                # train is drawn from the database
        database = rest
        train = _take_per_class(labels, database, 500, rng)
    else:                                        # quick: a small database, train drawn from it
        database = _take_per_class(labels, rest, 1000, rng)
        train = _take_per_class(labels, database, 500, rng)
    train, val = _carve_validation(train, labels, val_fraction, rng)
    return {"train": train, "val": val, "query": query, "database": database}
