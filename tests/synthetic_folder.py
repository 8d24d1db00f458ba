"""A small ImageFolder of synthetic images that no method has seen: shapes on textured backgrounds.

Each class is one shape (disc, square, triangle, ring, cross, bar) in one colour family; every image draws
the shape's position, size and exact colour, a noisy background of another colour and a few distractor
strokes, so a class is not a single colour and a network must learn shapes to retrieve well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("disc", "square", "triangle", "ring", "cross", "bar")


def _draw(shape: str, rng: np.random.Generator, size: int, hue: np.ndarray) -> Image.Image:
    background = rng.integers(0, 256, 3)
    pixels = np.clip(background + rng.normal(0, 35, (size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(2):  # distractor strokes in random colours
        x0, y0, x1, y1 = rng.integers(0, size, 4)
        draw.line((int(x0), int(y0), int(x1), int(y1)), fill=tuple(int(c) for c in rng.integers(0, 256, 3)), width=1)
    colour = tuple(int(c) for c in np.clip(hue + rng.normal(0, 25, 3), 0, 255))
    r = int(rng.integers(size // 5, size // 3))
    cx, cy = (int(c) for c in rng.integers(r, size - r, 2))
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(2, r // 3))
    elif shape == "cross":
        draw.rectangle((cx - r, cy - r // 4, cx + r, cy + r // 4), fill=colour)
        draw.rectangle((cx - r // 4, cy - r, cx + r // 4, cy + r), fill=colour)
    else:  # bar
        draw.rectangle((cx - r, cy - r // 3, cx + r, cy + r // 3), fill=colour)
    return image


def make_synthetic_folder(root: Path, classes: int = 6, train_per_class: int = 100, test_per_class: int = 20,
                          size: int = 32, seed: int = 0) -> Path:
    """Write root/train/<class>/*.png and root/test/<class>/*.png; returns root."""
    rng = np.random.default_rng(seed)
    hues = rng.integers(40, 256, (classes, 3))
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for c in range(classes):
            folder = Path(root) / split / f"{c}_{SHAPES[c % len(SHAPES)]}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                _draw(SHAPES[c % len(SHAPES)], rng, size, hues[c]).save(folder / f"{i:04d}.png")
    return Path(root)
