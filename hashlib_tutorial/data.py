"""Retrieval data: CIFAR-10 with the field's protocols, your own image folders and list files.

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
select on the query set, as much reference code does.

Every item is `(image, label)`. Transforms receive a uint8 (3, H, W) tensor, the convention of
`torchvision.transforms.v2`; without one the image is float32 in [0, 1]. The label is an int64 scalar
(single-label data) or a float32 multi-hot vector (multi-label data).
"""

import copy
import functools
import os
import warnings
import zipfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets
from torchvision.transforms import v2
from tqdm.auto import tqdm

Transform = Callable[[Tensor], Any]

DEFAULT_DATA_DIR = Path(os.environ.get("HASHLIB_DATA_DIR") or "~/.cache/hashlib_tutorial").expanduser()
DEFAULT_TRANSFORM = v2.ToDtype(torch.float32, scale=True)      # uint8 [0, 255] -> float32 [0, 1]

PROTOCOLS = ("cifar10", "cifar10-1", "cifar10-2", "quick")          # the table above
DATASETS = ("cifar10", "cifar10-mosaic", "folder", "list")           # described in load_splits
# Mosaics per split. `cifar10` keeps the query and train sizes of the image protocol but holds 20,000
# database mosaics instead of 54,000: 26,000 mosaics of 64x64x3 bytes take 320 MB of memory.
MOSAIC_SIZES = {
    "quick": {"train": 2_000, "query": 500, "database": 5_000},
    "cifar10": {"train": 5_000, "query": 1_000, "database": 20_000},
}
SPLIT_ROLES = {
    "train": "trains the network",
    "val": "validation queries, for model selection",
    "query": "test queries, for the reported mAP",
    "database": "searched by the test queries",
    "val_database": "searched by the validation queries (the train images, eval transform)",
}
LIST_FILES = {"train": "train.txt", "query": "test.txt", "database": "database.txt"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp"}
MISSING_CIFAR10 = ("CIFAR-10 not found under {root}: extract the offline archive there "
                   "(mkdir -p {root} && tar -xzf cifar10-jpg.tar.gz -C {root}), or point --data-dir "
                   "(data_dir=, or HASHLIB_DATA_DIR) at a folder holding cifar10/train/<class>/*.jpg and "
                   "cifar10/test/<class>/*.jpg, or, from Python, pass download=True to load_splits (needs internet)")
# What np.load raises for a missing, truncated or foreign .npz file.
NPZ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


class LabelledImages(Dataset):
    """What the two datasets share: labels, a transform, and the form of an item.

    Args:
        labels: (N,) class indices, or (N, C) multi-hot rows for multi-label data.
        transform: called on each uint8 (3, H, W) image; None gives float32 in [0, 1].
    """

    def __init__(self, labels: np.ndarray, transform: Transform | None = None):
        labels = np.asarray(labels)
        if labels.ndim not in (1, 2):
            raise ValueError(f"labels must be (N,) class indices or (N, C) multi-hot, got {labels.shape}")
        self.multi_label = labels.ndim == 2
        self.labels = labels.astype(np.float32 if self.multi_label else np.int64)
        self.transform = transform if transform is not None else DEFAULT_TRANSFORM

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        kind = "multi-label" if self.multi_label else "single-label"
        return f"{type(self).__name__}({len(self)} images, {kind})"

    def with_transform(self, transform: Transform | None) -> "LabelledImages":
        """The same images and labels (shared, not copied) seen through another transform."""
        view = copy.copy(self)
        view.transform = transform if transform is not None else DEFAULT_TRANSFORM
        return view

    def _item(self, image: Tensor, index: int) -> tuple[Any, Tensor]:
        """(transform(image), label of item `index`): an int64 scalar or a float32 (C,) vector."""
        return self.transform(image), torch.tensor(self.labels[index])


class ArrayImages(LabelledImages):
    """Images held in memory as one uint8 array: fast on a CPU (CIFAR-10, mosaics).

    Args:
        images: uint8 (N, H, W, 3).
        labels: (N,) class indices or (N, C) multi-hot.
        transform: called on each uint8 (3, image_size, image_size) image; None gives [0, 1] floats.
        image_size: resize each image to image_size x image_size before the transform; None keeps H, W.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Transform | None = None,
                 image_size: int | None = None):
        super().__init__(labels, transform)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or len(images) != len(self):
            raise ValueError(f"images must be uint8 (N, H, W, 3) with N = {len(self)} labels, "
                             f"got {images.dtype} {images.shape}")
        self.images = images
        self.image_size = image_size

    def __getitem__(self, index: int) -> tuple[Any, Tensor]:
        # (H, W, 3) -> (3, H, W); contiguous() copies, so no transform can alter the stored array
        image = torch.from_numpy(self.images[index]).permute(2, 0, 1).contiguous()
        if self.image_size is not None and image.shape[1:] != (self.image_size, self.image_size):
            image = v2.functional.resize(image, [self.image_size, self.image_size], antialias=True)
        return self._item(image, index)


class FileImages(LabelledImages):
    """Image files read lazily with PIL, converted to RGB and resized (aspect ratio not kept).

    An unreadable file (any PIL error, the decompression-bomb guard included) never stops an epoch:
    the first time it fails, a warning names it and ``unreadable`` records why. From then on:

    * ``replace_unreadable=True`` (training): the item is replaced by the next readable one (image
      and label, so the pair stays true; that image then appears twice). Only if no file at all can
      be read is an error raised.
    * ``replace_unreadable=False`` (encoding your own images): the item is a black image, and the
      caller drops the rows listed in ``unreadable``. It is filled in the process that reads,
      so read such a dataset without DataLoader workers.

    Args:
        paths: one image file per item.
        labels: (N,) class indices or (N, C) multi-hot.
        image_size: every image is resized to image_size x image_size.
        transform: called on each uint8 (3, image_size, image_size) image; None gives [0, 1] floats.
        replace_unreadable: replace an unreadable item by the next readable one, or by a black image.
    """

    def __init__(self, paths: Sequence[str | Path], labels: np.ndarray, image_size: int,
                 transform: Transform | None = None, replace_unreadable: bool = True):
        super().__init__(labels, transform)
        if len(paths) != len(self):
            raise ValueError(f"got {len(paths)} paths for {len(self)} labels; give one label per path")
        self.paths = [Path(p) for p in paths]
        self.image_size = image_size
        self.replace_unreadable = replace_unreadable
        self.unreadable: dict[int, str] = {}  # index -> the error; per process: each DataLoader worker warns on its own

    def __getitem__(self, index: int) -> tuple[Any, Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        if not self.replace_unreadable:
            image = self._read(index)
            blank = torch.zeros((3, self.image_size, self.image_size), dtype=torch.uint8)
            return self._item(blank if image is None else image, index)
        for offset in range(len(self)):
            i = (index + offset) % len(self)
            image = self._read(i)
            if image is not None:
                return self._item(image, i)
        raise OSError(f"none of the {len(self)} images can be read, e.g. {self.paths[index]}; "
                      "check the files and data_dir")

    def _read(self, i: int) -> Tensor | None:
        """Image i as uint8 (3, S, S), or None when it cannot be read (with a warning the first time)."""
        if i in self.unreadable:
            return None
        try:
            image = _read_rgb(self.paths[i], self.image_size)
        except Exception as error:  # any PIL error: UnidentifiedImageError, DecompressionBombError, ...
            self.unreadable[i] = str(error)
            fate = "using the next readable image instead" if self.replace_unreadable else "it gets no code"
            warnings.warn(f"cannot read image {self.paths[i]} ({error}); {fate}", stacklevel=3)
            return None
        return torch.from_numpy(image).permute(2, 0, 1).contiguous()


def _read_rgb(path: Path, size: int) -> np.ndarray:
    """An image file as uint8 (size, size, 3) RGB."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.array(image)


def _data_root(data_dir: str | Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else DEFAULT_DATA_DIR


def _check_choice(kind: str, value: str, choices: Collection[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose one of {sorted(choices)}")


def _save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """np.savez into a temporary file, then rename it: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _list_images(folder: Path, class_names: list[str]) -> tuple[list[Path], list[int]]:
    """Files of folder/<class>/*, sorted by class then name, and their class indices."""
    paths, labels = [], []
    for label, name in enumerate(class_names):
        files = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise ValueError(f"no images in {folder}/<class>/; expected one subfolder per class "
                         f"({', '.join(class_names)}) holding image files")
    return paths, labels


def _scan_train_test(root: Path) -> tuple[list[Path], np.ndarray, list[str], int]:
    """The ImageFolder layout root/{train,test}/<class>/*, pooled as train files then test files.

    Returns:
        paths, labels (N,) int64, class_names (the sorted subfolders of train/), n_train.
    """
    if not ((root / "train").is_dir() and (root / "test").is_dir()):
        raise ValueError(f"expected the ImageFolder layout {root}/train/<class>/<image> and "
                         f"{root}/test/<class>/<image>; point data_dir at the folder holding train/ and test/")
    class_names = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    unknown = {d.name for d in (root / "test").iterdir() if d.is_dir()} - set(class_names)
    if unknown:
        raise ValueError(f"{root}/test has classes {sorted(unknown)} that {root}/train lacks; "
                         "give every class training images")
    train_paths, train_labels = _list_images(root / "train", class_names)
    test_paths, test_labels = _list_images(root / "test", class_names)
    return train_paths + test_paths, np.array(train_labels + test_labels, np.int64), class_names, len(train_paths)


def load_cifar10_arrays(data_dir: str | Path | None = None, download: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """All 60,000 CIFAR-10 images in memory: the 50,000 training images first, then the 10,000 test.

    Sources, tried in order:
      1. the cache `<data_dir>/cifar10/cifar10_uint8.npz` (arrays images, labels, class_names,
         n_train), written by the first successful load; delete it to rebuild from another source;
      2. the ImageFolder copy `<data_dir>/cifar10/{train,test}/<class>/*.jpg`, decoded once with PIL,
         sorted by class then file name (the offline archive; its JPEGs are slightly lossy);
      3. torchvision's official batches in `<data_dir>/cifar-10-batches-py` (`download=True` fetches them).

    Args:
        data_dir: the data folder; None gives DEFAULT_DATA_DIR ($HASHLIB_DATA_DIR or ~/.cache/hashlib_tutorial).
        download: let torchvision download the official batches if no local copy is found.
    Returns:
        images uint8 (60000, 32, 32, 3), labels int64 (60000,), class_names, n_train = 50000.
    """
    root = _data_root(data_dir)
    cache = root / "cifar10" / "cifar10_uint8.npz"
    if cache.is_file():
        try:
            return _read_cache(str(cache), cache.stat().st_mtime_ns)
        except NPZ_ERRORS as error:
            raise ValueError(f"the CIFAR-10 cache {cache} is damaged ({type(error).__name__}); it is "
                             "safe to delete: the next load decodes CIFAR-10 again and rewrites it") from error
    if (root / "cifar10" / "train").is_dir() and (root / "cifar10" / "test").is_dir():
        paths, labels, class_names, n_train = _scan_train_test(root / "cifar10")
        images = np.empty((len(paths), 32, 32, 3), np.uint8)
        for i, path in enumerate(tqdm(paths, desc="decoding CIFAR-10 (once)", unit="image")):
            images[i] = _read_rgb(path, 32)
    else:
        try:
            parts = [datasets.CIFAR10(root, train=train, download=download) for train in (True, False)]
        except RuntimeError as error:            # torchvision: "Dataset not found or corrupted"
            raise FileNotFoundError(MISSING_CIFAR10.format(root=root)) from error
        images = np.concatenate([part.data for part in parts])
        labels = np.concatenate([part.targets for part in parts]).astype(np.int64)
        class_names, n_train = list(parts[0].classes), len(parts[0].data)
    try:
        _save_npz_atomic(cache, images=images, labels=labels, class_names=np.array(class_names),
                         n_train=np.array(n_train))
    except OSError as error:
        warnings.warn(f"cannot write the cache {cache} ({error}); the next load will decode again")
    return images, labels, class_names, n_train


@functools.lru_cache(maxsize=1)
def _read_cache(path: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """The npz cache, read once per process (185 MB) while the file is unchanged; read-only arrays."""
    with np.load(path) as saved:
        images, labels = saved["images"], saved["labels"]
        images.flags.writeable = labels.flags.writeable = False
        return images, labels, saved["class_names"].tolist(), int(saved["n_train"])


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


def _fixed_splits(labels: np.ndarray, train: np.ndarray, query: np.ndarray, database: np.ndarray,
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
    _check_choice("protocol", protocol, PROTOCOLS)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"protocols are defined per class: labels must be (N,), got {labels.shape}")
    everything = np.arange(len(labels))
    if protocol == "cifar10-2":
        train_images = everything[:n_train_pool]
        return _fixed_splits(labels, train_images, everything[n_train_pool:], train_images, seed, val_fraction)
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
    _check_choice("protocol for cifar10-mosaic", protocol, MOSAIC_SIZES)
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


def _read_list_layout(root: Path) -> tuple[list[Path], np.ndarray, dict[str, np.ndarray]]:
    """train.txt, test.txt and database.txt, pooled in that order.

    Returns:
        paths, multi-hot labels float32 (N, C), and {"train", "query", "database"} -> pool indices.
    """
    paths, rows, ranges = [], [], {}
    for split, file_name in LIST_FILES.items():
        list_file = root / file_name
        if not list_file.is_file():
            raise FileNotFoundError(f"{list_file} not found: the list layout needs {', '.join(LIST_FILES.values())} "
                                    f"in {root}, one 'relative/path.jpg 0 1 0 ...' line per image")
        start = len(paths)
        for number, line in enumerate(list_file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            name, *values = line.split()
            if not values or any(v not in ("0", "1") for v in values):
                raise ValueError(f"{list_file}, line {number}: expected 'relative/path.jpg 0 1 0 ...', got {line!r}")
            if Path(name).is_absolute() or Path(os.path.normpath(name)).parts[0] == "..":
                raise ValueError(f"{list_file}, line {number}: {name!r} is outside the data folder {root}; "
                                 "give paths relative to data_dir that stay inside it")
            if rows and len(values) != len(rows[0]):
                raise ValueError(f"{list_file}, line {number}: {len(values)} labels, but the first line of "
                                 f"{LIST_FILES['train']} has {len(rows[0])}; give every image one 0/1 per class")
            paths.append(root / name)
            rows.append([int(v) for v in values])
        if len(paths) == start:
            raise ValueError(f"{list_file} lists no images")
        if not paths[start].is_file():
            raise FileNotFoundError(f"{paths[start]}, the first image of {list_file}, does not exist; "
                                    f"the paths in the list files are relative to data_dir ({root})")
        ranges[split] = np.arange(start, len(paths))
    return paths, np.array(rows, np.float32), ranges


@dataclass
class RetrievalSplits:
    """The datasets of one retrieval experiment, and where their items come from.

    `indices[name]` indexes the pooled source: the 60,000 CIFAR-10 images (training images first),
    the train/ then test/ files of a folder, or the lines of train.txt, test.txt, database.txt. For
    cifar10-mosaic it is (M, 4): the CIFAR-10 images in each mosaic's quadrants. `val_database` is
    `train` with the eval transform: the database that the val queries search during training.
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

    def labels(self, name: str) -> np.ndarray:
        """The labels of a split (a key of SPLIT_ROLES), without loading any image."""
        _check_choice("split", name, SPLIT_ROLES)
        return getattr(self, name).labels

    def save_indices(self, path: str | Path) -> None:
        """Write the split indices, dataset, protocol and seed to an .npz file, atomically."""
        _save_npz_atomic(Path(path), dataset=np.array(self.dataset), protocol=np.array(self.protocol),
                         seed=np.array(self.seed), **self.indices)

    def summary(self) -> str:
        """The split sizes and roles as a small table, to print."""
        kind = "multi-label" if self.multi_label else "single-label"
        lines = [f"{self.dataset}, protocol {self.protocol}, seed {self.seed}: {self.num_classes} classes, {kind}",
                 f"{'split':<13}{'items':>7}  role"]
        lines += [f"{name:<13}{len(getattr(self, name)):>7,}  {role}" for name, role in SPLIT_ROLES.items()]
        return "\n".join(lines)


def load_splits(dataset: str = "cifar10", protocol: str | None = None, data_dir: str | Path | None = None,
                seed: int = 0, image_size: int = 32, train_transform: Transform | None = None,
                eval_transform: Transform | None = None, val_fraction: float = 0.1,
                download: bool = False) -> RetrievalSplits:
    """Train, validation, query and database datasets for retrieval.

    - `cifar10`: CIFAR-10 split by `protocol` (one of PROTOCOLS; None gives "cifar10").
    - `cifar10-mosaic`: 2x2 mosaics (64x64) of CIFAR-10 images, labelled with the union of their four
      classes. protocol "quick": 500 query, 2,000 train, 5,000 database mosaics (fewer than the image protocol); "cifar10" (None):
      1,000 query, 5,000 train, 20,000 database (not 54,000, to stay near 320 MB). Query mosaics use
      only the protocol's query images (see `mosaic_sources`).
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
    """
    _check_choice("dataset", dataset, DATASETS)
    root = _data_root(data_dir)
    if dataset in ("folder", "list"):
        if protocol is not None:
            raise ValueError(f"the {dataset} dataset's files fix its splits: leave protocol=None (drop --protocol) "
                             f"(the protocols {sorted(PROTOCOLS)} are for CIFAR-10)")
        protocol = "files"
        if dataset == "folder":
            paths, labels, class_names, n_train = _scan_train_test(root)
            train_files = np.arange(n_train)
            idx = _fixed_splits(labels, train_files, np.arange(n_train, len(paths)), train_files, seed, val_fraction)
        else:
            paths, labels, ranges = _read_list_layout(root)
            idx = _fixed_splits(labels, ranges["train"], ranges["query"], ranges["database"], seed, val_fraction)
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
            idx = mosaic_sources(labels, n_train, protocol, seed, val_fraction)

            def subset(name: str, transform: Transform | None) -> LabelledImages:
                mosaics, multi_hot = make_mosaics(images, labels, idx[name], len(class_names))
                return ArrayImages(mosaics, multi_hot, transform, image_size)

    train = subset("train", train_transform)
    return RetrievalSplits(
        train=train, val=subset("val", eval_transform), query=subset("query", eval_transform),
        database=subset("database", eval_transform), val_database=train.with_transform(eval_transform),
        indices=idx, num_classes=len(class_names), multi_label=train.multi_label,
        class_names=class_names, protocol=protocol, dataset=dataset, seed=seed)
