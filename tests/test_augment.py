"""Batch augmentation in memory: every crop is a window of the padded image, flips mirror, the
evaluation path matches the per-image transforms, and the batches are seeded."""

import numpy as np
import torch
import torch.nn.functional as F

from hashlib_tutorial.data.augment import (CIFAR_MEAN, CIFAR_STD, BatchAugmenter, cutout, make_transforms, normalise,
                                           random_crop, random_flip, trivial_augment)
from hashlib_tutorial.data.datasets import ArrayImages
from hashlib_tutorial.training.evaluate import image_batches


def images(n=6, size=8, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def test_every_crop_is_a_window_of_the_reflection_padded_image():
    x = images()
    crops = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = F.pad(x.float(), (2,) * 4, mode="reflect")
    assert crops.shape == x.shape and crops.dtype == torch.uint8
    for image, crop in zip(padded, crops.float()):
        windows = [image[:, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(w, crop) for w in windows)


def test_flip_mirrors_about_half_and_leaves_the_rest():
    x = images(200)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 60 < sum(flipped) < 140


def test_cutout_zeroes_one_square_per_image():
    x = torch.full((4, 3, 16, 16), 200, dtype=torch.uint8)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    zeroed = (out == 0).all(dim=1).sum(dim=(1, 2))  # pixels zeroed in every channel, per image
    assert ((zeroed >= 4) & (zeroed <= 25)).all() and ((out == 0) | (out == 200)).all()


def test_the_per_image_transforms_apply_cutout_too():
    train_t, _ = make_transforms(16, augment=False, cutout_size=4)
    torch.manual_seed(0)
    out = torch.stack([train_t(torch.full((3, 16, 16), 200, dtype=torch.uint8)) for _ in range(8)])
    black = normalise(torch.zeros(1, 3, 1, 1, dtype=torch.uint8))  # a 0 pixel once normalised, (1, 3, 1, 1)
    zeroed = torch.isclose(out, black).all(dim=1).sum(dim=(1, 2))  # pixels zeroed in every channel, per image
    assert ((zeroed >= 4) & (zeroed <= 25)).all()


def test_batches_are_seeded_cover_the_data_once_and_carry_their_indices():
    data, labels = images(10, 8).permute(0, 2, 3, 1).numpy(), np.arange(10) % 3
    loader = BatchAugmenter(data, labels, batch_size=4, image_size=8)
    loader.generator.manual_seed(1)
    first = list(loader)
    loader.generator.manual_seed(1)
    again = list(loader)
    assert len(first) == len(loader) == 2  # the last incomplete batch is dropped
    seen = torch.cat([i for _, _, i in first])
    assert len(set(seen.tolist())) == 8
    for (x, y, i), (x2, _, _) in zip(first, again):
        assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32 and torch.equal(x, x2)
        assert torch.equal(y, torch.as_tensor(labels)[i])


def test_unaugmented_batches_and_evaluation_batches_equal_the_per_image_transforms():
    data, labels = images(5, 8).permute(0, 2, 3, 1).numpy(), np.arange(5)
    _, eval_t = make_transforms(16, augment=False)
    dataset = ArrayImages(data, labels, eval_t, image_size=16)
    per_image = torch.stack([dataset[i][0] for i in range(5)])
    torch.testing.assert_close(torch.cat(list(image_batches(dataset, batch_size=2))), per_image)
    loader = BatchAugmenter(data, labels, batch_size=5, image_size=16, augment=False)
    torch.testing.assert_close(loader.batch(torch.arange(5)), per_image)
    torch.testing.assert_close(normalise(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)).flatten(),
                               (1 - torch.tensor(CIFAR_MEAN)) / torch.tensor(CIFAR_STD))


def test_trivial_augment_changes_some_images_is_seeded_and_leaves_the_global_random_state():
    x = images(64, size=32)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = trivial_augment(x, torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), before)  # drawn from the generator, not the global state
    assert torch.equal(first, trivial_augment(x, torch.Generator().manual_seed(0)))
    assert first.shape == x.shape and first.dtype == torch.uint8
    changed = (first != x).flatten(1).any(1).float().mean()
    assert 0.5 < changed < 1.0  # most images change; the "identity" operation leaves some as they are
