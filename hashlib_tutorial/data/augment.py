"""Training batches straight from images held in memory: augment a whole batch at once, as tensors.

Per-image transforms in a DataLoader cost more than the small networks of the CPU profiles spend on
a step (a crop, a flip and a normalisation per image, in Python). Here the decoded uint8 images stay
in one tensor, and each batch is augmented in a few tensor operations, the way the fast CIFAR-10
training recipes do it:

    trivial: one random operation at a random strength per image (optional; TrivialAugment, Mueller and
             Hutter 2021, as torchvision's TrivialAugmentWide: the one per-image step, about 0.2 ms an image)
    crop:    pad every image by p pixels (reflection), then cut a random S x S window per image
    flip:    mirror a random half of the images left to right
    cutout:  zero a random c x c square per image (optional; DeVries and Taylor 2017)
    resize:  to the model's input size (ADMTH's trunk needs at least 63 px), bilinear, as uint8
    scale:   x = (x / 255 - mean) / std, per channel (CIFAR-10 statistics)

Resizing and scaling match the evaluation transform of :func:`make_transforms` exactly.

The same seed gives the same batches, so an interrupted run resumes exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def make_transforms(image_size: int, augment: bool, trivial: bool = False,
                    cutout_size: int = 0) -> tuple[v2.Compose, v2.Compose]:
    """(train, eval) per-image transforms on uint8 (3, S, S) images, in the order of :class:`BatchAugmenter`:
    optional TrivialAugment, crop + flip, optional cutout, then normalise."""
    normalise = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR_MEAN, CIFAR_STD)]
    augmentation = [v2.TrivialAugmentWide()] if trivial else []
    augmentation += [v2.RandomCrop(image_size, padding=image_size // 8), v2.RandomHorizontalFlip()] if augment else []
    augmentation += [Cutout(cutout_size)] if cutout_size else []
    return v2.Compose(augmentation + normalise), v2.Compose(normalise)


class Cutout:
    """:func:`cutout` on one uint8 (3, H, W) image, drawn from the global random state (DataLoader workers seed it)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: Tensor) -> Tensor:
        return cutout(image[None], self.size, None)[0]

    def __repr__(self) -> str:
        return f"Cutout(size={self.size})"


def normalise(images: Tensor) -> Tensor:
    """uint8 (B, 3, H, W) -> float32 (x / 255 - mean) / std with CIFAR-10's per-channel statistics."""
    mean = torch.tensor(CIFAR_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def random_crop(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """A random S x S window of each image padded by ``padding`` pixels (reflection), (B, C, S, S).

    Windows are cut per image through one gather: offsets (dy, dx) in [0, 2p] for every image.
    """
    if padding == 0:
        return images
    b, c, h, w = images.shape
    padded = F.pad(images.float(), (padding,) * 4, mode="reflect").to(images.dtype)  # (B, C, H + 2p, W + 2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(b, c, h, w + 2 * padding)  # (B, C, H, W + 2p)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(b, c, h, w)  # (B, C, H, W)
    return padded.gather(2, rows.to(images.device)).gather(3, cols.to(images.device))


def random_flip(images: Tensor, generator: torch.Generator) -> Tensor:
    """Each image mirrored left to right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None].to(images.device), images.flip(3), images)


def cutout(images: Tensor, size: int, generator: torch.Generator | None) -> Tensor:
    """A size x size square set to 0 at a random centre of each image (clipped at the borders)."""
    b, _, h, w = images.shape
    cy = torch.randint(0, h, (b,), generator=generator)[:, None, None]
    cx = torch.randint(0, w, (b,), generator=generator)[:, None, None]
    ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    inside = ((ys - cy).abs() <= size // 2) & ((xs - cx).abs() <= size // 2)  # (B, H, W)
    return images.masked_fill(inside[:, None].to(images.device), 0)


def trivial_augment(images: Tensor, generator: torch.Generator) -> Tensor:
    """TrivialAugmentWide on each uint8 image, its random draws seeded from ``generator`` (so runs resume exactly)."""
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([_TRIVIAL_AUGMENT(image) for image in images])


_TRIVIAL_AUGMENT = v2.TrivialAugmentWide()


class BatchAugmenter:
    """Shuffled, augmented training batches of in-memory uint8 images; an iterable, like a DataLoader.

    Args:
        images: uint8 (N, H, W, 3), the training images (not copied: each batch copies its own).
        labels: (N,) class indices or (N, C) multi-hot.
        batch_size: B; the last incomplete batch is dropped.
        image_size: side of the model's input; images are resized after augmentation when it differs.
        augment: crop (padding S / 8) and flip; off gives the images as they are.
        cutout_size: side of the cutout square, 0 for none.
        trivial: TrivialAugment each image first.
    Yields:
        (images float32 (B, 3, S, S), labels, indices (B,) into the N training images).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, image_size: int,
                 augment: bool = True, cutout_size: int = 0, trivial: bool = False):
        self.images = images  # uint8 (N, H, W, 3), shared with the dataset, never written
        self.labels = torch.as_tensor(np.asarray(labels))
        self.batch_size, self.image_size = batch_size, image_size
        self.augment, self.cutout_size, self.trivial = augment, cutout_size, trivial
        self.generator = torch.Generator()

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        order = torch.randperm(len(self.labels), generator=self.generator)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start:start + self.batch_size]
            yield self.batch(indices), self.labels[indices], indices

    def batch(self, indices: Tensor) -> Tensor:
        """The augmented, resized and normalised images of ``indices``, float32 (B, 3, S, S)."""
        x = torch.from_numpy(self.images[indices.numpy()]).permute(0, 3, 1, 2)  # a copy: (B, 3, H, W)
        if self.trivial:
            x = trivial_augment(x, self.generator)
        if self.augment:
            x = random_flip(random_crop(x, x.shape[-1] // 8, self.generator), self.generator)
        if self.cutout_size:
            x = cutout(x, self.cutout_size, self.generator)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = TF.resize(x, [self.image_size, self.image_size], antialias=True)
        return normalise(x)
