"""CIFAR-10 in memory: all 60,000 images as one uint8 array, decoded once into an .npz cache."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
from torchvision import datasets
from tqdm.auto import tqdm

from .datasets import read_rgb
from .files import NPZ_ERRORS, save_npz
from .folders import count_images, scan_train_test

DEFAULT_DATA_DIR = Path(os.environ.get("HASHLIB_DATA_DIR") or "~/.cache/hashlib_tutorial").expanduser()
MISSING_CIFAR10 = ("CIFAR-10 not found under {root}: extract the offline archive there "
                   "(mkdir -p {root} && tar -xzf cifar10-jpg.tar.gz -C {root}), or point --data-dir "
                   "(data_dir=, or HASHLIB_DATA_DIR) at a folder holding cifar10/train/<class>/*.jpg and "
                   "cifar10/test/<class>/*.jpg, or, from Python, pass download=True to load_splits (needs internet)")


def data_root(data_dir: str | Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else DEFAULT_DATA_DIR


def load_cifar10_arrays(data_dir: str | Path | None = None, download: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """All 60,000 CIFAR-10 images in memory: the 50,000 training images first, then the 10,000 test.

    Sources, tried in order:
      1. the cache `<data_dir>/cifar10/cifar10_uint8.npz` (arrays images, labels, class_names,
         n_train), written by the first successful load; delete it to rebuild from another source. A
         cache holding fewer images than the ImageFolder copy beside it was written from a partial
         extraction: it is refused, with the command that rebuilds it;
      2. the ImageFolder copy `<data_dir>/cifar10/{train,test}/<class>/*.jpg`, decoded once with PIL,
         sorted by class then file name (the offline archive; its JPEGs are slightly lossy);
      3. torchvision's official batches in `<data_dir>/cifar-10-batches-py` (`download=True` fetches them).

    Args:
        data_dir: the data folder; None gives DEFAULT_DATA_DIR ($HASHLIB_DATA_DIR or ~/.cache/hashlib_tutorial).
        download: let torchvision download the official batches if no local copy is found.
    Returns:
        images uint8 (60000, 32, 32, 3), labels int64 (60000,), class_names, n_train = 50000.
    """
    root = data_root(data_dir)
    cache = root / "cifar10" / "cifar10_uint8.npz"
    if cache.is_file():
        try:
            cached = _read_cache(str(cache), cache.stat().st_mtime_ns)
        except NPZ_ERRORS as error:
            raise ValueError(f"the CIFAR-10 cache {cache} is damaged ({type(error).__name__}); it is "
                             "safe to delete: the next load decodes CIFAR-10 again and rewrites it") from error
        on_disk = _images_on_disk(root / "cifar10")
        if on_disk > len(cached[1]):
            raise ValueError(f"the CIFAR-10 cache {cache} holds {len(cached[1]):,} images, but {root / 'cifar10'} "
                             f"holds {on_disk:,}, so the cache was written from a partial extraction; delete it "
                             f"(rm {cache}) and the next load rebuilds it from the {on_disk:,} images")
        return cached
    if (root / "cifar10" / "train").is_dir() and (root / "cifar10" / "test").is_dir():
        paths, labels, class_names, n_train = scan_train_test(root / "cifar10")
        images = np.empty((len(paths), 32, 32, 3), np.uint8)
        for i, path in enumerate(tqdm(paths, desc="decoding CIFAR-10 (once)", unit="image")):
            images[i] = read_rgb(path, 32)
    else:
        try:
            parts = [datasets.CIFAR10(root, train=train, download=download) for train in (True, False)]
        except RuntimeError as error:            # torchvision: "Dataset not found or corrupted"
            raise FileNotFoundError(MISSING_CIFAR10.format(root=root)) from error
        images = np.concatenate([part.data for part in parts])
        labels = np.concatenate([part.targets for part in parts]).astype(np.int64)
        class_names, n_train = list(parts[0].classes), len(parts[0].data)
    try:
        save_npz(cache, images=images, labels=labels, class_names=np.array(class_names),
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


def _images_on_disk(folder: Path) -> int:
    """The image files of the ImageFolder copy in ``folder`` (0 without one), counted again only when a
    class folder changed (its mtime), since counting 60,000 files takes a noticeable part of a second."""
    class_folders = [d for split in ("train", "test") if (folder / split).is_dir() for d in os.scandir(folder / split)
                     if d.is_dir()]
    return _count(str(folder), tuple((d.path, d.stat().st_mtime_ns) for d in class_folders))


@functools.lru_cache(maxsize=4)
def _count(folder: str, mtimes: tuple) -> int:
    return count_images(Path(folder))
