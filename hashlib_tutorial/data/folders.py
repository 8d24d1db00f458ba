"""Your own images: an ImageFolder (train/<class>/*, test/<class>/*), list files (NUS-WIDE, MS-COCO), or
any folder of images (encode).

Symlinked folders are followed (each real folder once, so a link cycle ends). A class folder without
images is not a class: it gets a warning and no label.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .datasets import IMAGE_SUFFIXES

LIST_FILES = {"train": "train.txt", "query": "test.txt", "database": "database.txt"}


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


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder``, searched recursively through symlinked folders too, sorted."""
    found, seen = [], set()
    for parent, subfolders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(parent)
        if real in seen:  # reached again through a link: a cycle, or two links to one folder
            subfolders[:] = []
            continue
        seen.add(real)
        found += [Path(parent) / name for name in files if _is_image(name)]
    return sorted(found)


def _class_folders(folder: Path, warn: bool) -> list[str]:
    """The subfolders of ``folder`` holding at least one image file, sorted; ``warn``: a warning names the others."""
    names = sorted(d.name for d in folder.iterdir() if d.is_dir())
    empty = [name for name in names if not any(_is_image(p.name) for p in (folder / name).iterdir())]
    if empty and warn:
        warnings.warn(f"{', '.join(str(folder / name) for name in empty)}: no images, so not counted as a class "
                      f"(the classes are {', '.join(n for n in names if n not in empty) or 'none'})", stacklevel=3)
    return [name for name in names if name not in empty]


def count_images(root: Path) -> int:
    """The number of image files of the layout root/{train,test}/<class>/* (what scan_train_test would list)."""
    return sum(_is_image(entry.name) for split in ("train", "test") if (root / split).is_dir()
               for d in os.scandir(root / split) if d.is_dir() for entry in os.scandir(d.path))


def scan_train_test(root: Path) -> tuple[list[Path], np.ndarray, list[str], int]:
    """The ImageFolder layout root/{train,test}/<class>/*, pooled as train files then test files.

    Returns:
        paths, labels (N,) int64, class_names (the sorted subfolders of train/ holding images), n_train.
    """
    if not ((root / "train").is_dir() and (root / "test").is_dir()):
        raise ValueError(f"expected the ImageFolder layout {root}/train/<class>/<image> and "
                         f"{root}/test/<class>/<image>; point data_dir at the folder holding train/ and test/")
    class_names = _class_folders(root / "train", warn=True)
    unknown = set(_class_folders(root / "test", warn=False)) - set(class_names)
    if unknown:
        raise ValueError(f"{root}/test has classes {sorted(unknown)} that {root}/train lacks; "
                         "give every class training images")
    train_paths, train_labels = _list_images(root / "train", class_names)
    test_paths, test_labels = _list_images(root / "test", class_names)
    return train_paths + test_paths, np.array(train_labels + test_labels, np.int64), class_names, len(train_paths)


def read_list_layout(root: Path) -> tuple[list[Path], np.ndarray, dict[str, np.ndarray]]:
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
