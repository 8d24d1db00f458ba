"""The datasets of one retrieval experiment (train, val, query, database) for any dataset: ``load_splits``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .augment import make_transforms
from .cifar import data_root, load_cifar10_arrays
from .datasets import ArrayImages, FileImages, LabelledImages, Transform
from .files import save_npz
from .folders import read_list_layout, scan_train_test
from .mosaics import check_mosaic_classes, make_mosaics, mosaic_sources
from .protocols import PROTOCOLS, check_choice, fixed_splits, split_indices

DATASETS = ("cifar10", "cifar10-mosaic", "folder", "list")           # described in load_splits
SPLIT_ROLES = {
    "train": "trains the network",
    "val": "validation queries, for model selection",
    "query": "test queries, for the reported mAP",
    "database": "searched by the test queries",
    "val_database": "searched by the validation queries (the train images, eval transform)",
}


@dataclass
class RetrievalSplits:
    """The datasets of one retrieval experiment, and where their items come from.

    `indices[name]` indexes the pooled source: the 60,000 CIFAR-10 images (training images first),
    the train/ then test/ files of a folder, or the lines of train.txt, test.txt, database.txt. For
    cifar10-mosaic it is (M, 4): the CIFAR-10 images in each mosaic's quadrants. `val_database` is
    `train` with the eval transform: the database that the val queries search during training.
    `mosaic_classes`: cifar10-mosaic's distinct classes per mosaic (None: four random tiles).
    """

    train: LabelledImages
    val: LabelledImages
    query: LabelledImages
    database: LabelledImages
    val_database: LabelledImages
    indices: dict[str, np.ndarray] = field(repr=False)
    num_classes: int
    multi_label: bool
    class_names: list[str]
    protocol: str
    dataset: str
    seed: int
    mosaic_classes: int | None = None

    def labels(self, name: str) -> np.ndarray:
        """The labels of a split (a key of SPLIT_ROLES), without loading any image."""
        check_choice("split", name, SPLIT_ROLES)
        return getattr(self, name).labels

    def save_indices(self, path: str | Path) -> None:
        """Write the split indices, dataset, protocol, seed and mosaic_classes (if set) to an .npz file, atomically."""
        k = {} if self.mosaic_classes is None else {"mosaic_classes": np.array(self.mosaic_classes)}
        save_npz(Path(path), dataset=np.array(self.dataset), protocol=np.array(self.protocol),
                         seed=np.array(self.seed), **k, **self.indices)

    def summary(self) -> str:
        """The split sizes and roles as a small table, to print."""
        kind = "multi-label" if self.multi_label else "single-label"
        k = "" if self.mosaic_classes is None else f" ({self.mosaic_classes} classes per mosaic)"
        lines = [f"{self.dataset}{k}, protocol {self.protocol}, seed {self.seed}: {self.num_classes} classes, {kind}",
                 f"{'split':<13}{'items':>7}  role"]
        lines += [f"{name:<13}{len(getattr(self, name)):>7,}  {role}" for name, role in SPLIT_ROLES.items()]
        return "\n".join(lines)


def load_splits(dataset: str = "cifar10", protocol: str | None = None, data_dir: str | Path | None = None,
                seed: int = 0, image_size: int = 32, train_transform: Transform | None = None,
                eval_transform: Transform | None = None, val_fraction: float = 0.1,
                download: bool = False, mosaic_classes: int | None = None) -> RetrievalSplits:
    """Train, validation, query and database datasets for retrieval.

    - `cifar10`: CIFAR-10 split by `protocol` (one of PROTOCOLS; None gives "cifar10").
    - `cifar10-mosaic`: 2x2 mosaics (64x64) of CIFAR-10 images, labelled with the union of their four
      tiles' classes: a multi-label stand-in for NUS-WIDE / MS-COCO. mosaic_classes k: each mosaic
      shows exactly k distinct classes, chance level 1 - C(10 - k, k) / C(10, k) (0.378 for k = 2, the
      report's choice); None: four random tiles, chance about 0.81 (see `data.mosaics`). protocol
      "quick": 500 query, 2,000 train, 5,000 database mosaics (fewer than the image protocol);
      "cifar10" (None): 1,000 query, 5,000 train, 20,000 database (not 54,000, to stay near 320 MB).
      Query mosaics use only the protocol's query images (see `mosaic_sources`).
    - `folder`: data_dir/train/<class>/* and data_dir/test/<class>/*; query = test, database = train.
    - `list`: train.txt, test.txt (the queries) and database.txt in data_dir, each line
      `relative/path.jpg 0 1 0 ...`; multi-label.
    For folder and list the files fix the splits, so protocol must stay None. In every case val
    (val_fraction of train, per class when single-label) is removed from train.

    Args:
        dataset: one of DATASETS.
        protocol: one of PROTOCOLS (a key of MOSAIC_SIZES for cifar10-mosaic), or None.
        data_dir: the data folder; None gives DEFAULT_DATA_DIR.
        seed: seed of every random choice (splits and mosaics).
        image_size: images are resized to image_size x image_size before the transforms.
        train_transform: for train, on uint8 (3, image_size, image_size); None gives [0, 1] floats.
        eval_transform: for val, query, database and val_database; None gives [0, 1] floats.
        val_fraction: fraction of train moved into val.
        download: for CIFAR-10, let torchvision download it if no local copy is found.
        mosaic_classes: cifar10-mosaic only: k, exactly k distinct classes per mosaic (1 to 4), or
            None for four random tiles.
    """
    check_choice("dataset", dataset, DATASETS)
    check_mosaic_classes(mosaic_classes)
    if mosaic_classes is not None and dataset != "cifar10-mosaic":
        raise ValueError(f"mosaic_classes={mosaic_classes} is for the cifar10-mosaic dataset only, not {dataset}: "
                         "leave it None, or use --dataset cifar10-mosaic")
    root = data_root(data_dir)
    if dataset in ("folder", "list"):
        if protocol is not None:
            raise ValueError(f"the {dataset} dataset's files fix its splits: leave protocol=None (drop --protocol) "
                             f"(the protocols {sorted(PROTOCOLS)} are for CIFAR-10)")
        protocol = "files"
        if dataset == "folder":
            paths, labels, class_names, n_train = scan_train_test(root)
            train_files = np.arange(n_train)
            idx = fixed_splits(labels, train_files, np.arange(n_train, len(paths)), train_files, seed, val_fraction)
        else:
            paths, labels, ranges = read_list_layout(root)
            idx = fixed_splits(labels, ranges["train"], ranges["query"], ranges["database"], seed, val_fraction)
            class_names = [f"class_{c}" for c in range(labels.shape[1])]

        def subset(name: str, transform: Transform | None) -> LabelledImages:
            return FileImages([paths[i] for i in idx[name]], labels[idx[name]], image_size, transform)
    else:
        protocol = protocol or "cifar10"
        images, labels, class_names, n_train = load_cifar10_arrays(root, download)
        if dataset == "cifar10":
            idx = split_indices(labels, n_train, protocol, seed, val_fraction)

            def subset(name: str, transform: Transform | None) -> LabelledImages:
                return ArrayImages(images[idx[name]], labels[idx[name]], transform, image_size)
        else:
            idx = mosaic_sources(labels, n_train, protocol, seed, val_fraction, mosaic_classes)

            def subset(name: str, transform: Transform | None) -> LabelledImages:
                mosaics, multi_hot = make_mosaics(images, labels, idx[name], len(class_names))
                return ArrayImages(mosaics, multi_hot, transform, image_size)

    train = subset("train", train_transform)
    return RetrievalSplits(
        train=train, val=subset("val", eval_transform), query=subset("query", eval_transform),
        database=subset("database", eval_transform), val_database=train.with_transform(eval_transform),
        indices=idx, num_classes=len(class_names), multi_label=train.multi_label,
        class_names=class_names, protocol=protocol, dataset=dataset, seed=seed, mosaic_classes=mosaic_classes)


def load_data(config) -> RetrievalSplits:
    """The splits a run's configuration (a :class:`training.config.TrainConfig`) asks for, with its transforms."""
    train_t, eval_t = make_transforms(config.image_size, config.augment, config.trivial_augment, config.cutout)
    protocol = None if config.dataset in ("folder", "list") else config.protocol
    return load_splits(config.dataset, protocol, config.data_dir, config.seed, config.image_size,
                       train_t, eval_t, config.val_fraction, mosaic_classes=config.mosaic_classes)
