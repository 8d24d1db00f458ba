"""Labelled images as datasets: in memory (CIFAR-10, mosaics) or files read lazily (your own photos).

Every item is `(image, label)`. Transforms receive a uint8 (3, H, W) tensor, the convention of
`torchvision.transforms.v2`; without one the image is float32 in [0, 1]. The label is an int64 scalar
(single-label data) or a float32 multi-hot vector (multi-label data).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms import v2

Transform = Callable[[Tensor], Any]

DEFAULT_TRANSFORM = v2.ToDtype(torch.float32, scale=True)      # uint8 [0, 255] -> float32 [0, 1]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp"}


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
            image = read_rgb(self.paths[i], self.image_size)
        except Exception as error:  # any PIL error: UnidentifiedImageError, DecompressionBombError, ...
            self.unreadable[i] = str(error)
            fate = "using the next readable image instead" if self.replace_unreadable else "it gets no code"
            warnings.warn(f"cannot read image {self.paths[i]} ({error}); {fate}", stacklevel=3)
            return None
        return torch.from_numpy(image).permute(2, 0, 1).contiguous()


def to_8_bits(image: Image.Image) -> Image.Image:
    """A grey image of more than 8 bits (PIL modes I;16, I, F) as 8-bit grey ("L"), scaled, never clipped.

    PIL's own ``convert`` clips such values to 0-255: a 16-bit PNG comes out almost white, a float TIFF
    in [0, 1] black. Here 16-bit images are scaled by their bit depth (65535 -> 255), 32-bit integers
    by 16 bits when their values fit (PIL reads some 16-bit files so) else by their range, and floats
    from [0, 1] when they lie in it, else by their range. Other modes are returned as they are.
    """
    if not (image.mode.startswith("I;16") or image.mode in ("I", "F")):
        return image
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and high <= 65535):
        low, high = 0.0, (65535.0 if high > 255 or image.mode != "I" else 255.0)  # the bit depth
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0                                                     # the [0, 1] convention
    scaled = (np.nan_to_num(values, nan=low, posinf=high, neginf=low) - low) / max(high - low, 1e-12)
    return Image.fromarray(np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8))  # (H, W) uint8: mode L


def read_rgb(path: Path, size: int) -> np.ndarray:
    """An image file as uint8 (size, size, 3) RGB; 16-bit and float images are scaled (see `to_8_bits`)."""
    with Image.open(path) as image:
        image = to_8_bits(image).convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.array(image)
