"""Hash your own photos with a trained run and query them by image.

    python -m hashlib_tutorial encode --run runs/dpfah --images ~/Pictures --out codes.npz
    python -m hashlib_tutorial search --codes codes.npz --query ~/Pictures/cat.jpg -k 10

An image that cannot be read gets one warning and no code: encode skips it (and says how many it
skipped), search refuses it as a query.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .data.augment import make_transforms
from .data.datasets import IMAGE_SUFFIXES, FileImages
from .data.files import NPZ_ERRORS, save_npz
from .retrieval.index import HammingIndex
from .training.evaluate import binary_codes
from .training.methods import Method
from .training.runs import load_checkpoint, load_model, read_config, resolve_device, sub_run_of


def _sub_run(run_dir: Path, bits: int | None) -> tuple[Path, int]:
    """The sub-run of ``run_dir`` that holds ``bits`` (or the only length), and that length."""
    sub_run, bits = sub_run_of(run_dir, bits)
    if not (sub_run / "best.pt").exists():
        raise FileNotFoundError(f"no trained model for {bits} bits in {run_dir} (encode needs a finished run "
                                "of a deep method)")
    return sub_run, bits


def _load(sub_run: Path) -> tuple[Method, torch.nn.Module, torch.device]:
    """The method and best model of a sub-run, on the default device."""
    device = resolve_device()
    weights = load_checkpoint(sub_run / "best.pt")["model"]
    classes = weights["classifier.weight"].shape[0] if "classifier.weight" in weights else 1
    return *load_model(sub_run, classes, device), device


def encode_folder(run_dir: str | Path, images: str | Path, out: str | Path, bits: int | None = None,
                  progress: bool = True) -> int:
    """Encode every readable image under ``images`` (recursively); save codes, paths and the run to ``out``.

    ``out`` is written as given (no suffix is added). Returns the number of codes written.
    """
    run_dir, images = Path(run_dir), Path(images)
    if not images.is_dir():
        raise FileNotFoundError(f"--images {images} is not a folder; give a folder of images")
    paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {images}")
    sub_run, bits = _sub_run(run_dir, bits)
    method, model, device = _load(sub_run)
    _, eval_transform = make_transforms(method.config.image_size, augment=False)
    dataset = FileImages(paths, np.zeros(len(paths), np.int64), method.config.image_size, eval_transform,
                         replace_unreadable=False)
    codes = binary_codes(method, model, dataset, device, progress=progress)[bits]  # read here: fills unreadable
    readable = [i for i in range(len(paths)) if i not in dataset.unreadable]
    if not readable:
        raise ValueError(f"none of the {len(paths)} images under {images} can be read (see the warnings)")
    if dataset.unreadable:
        warnings.warn(f"skipped {len(dataset.unreadable)} of {len(paths)} images that cannot be read "
                      "(named above); they have no code")
    save_npz(Path(out), codes=codes[readable], paths=np.array([str(paths[i]) for i in readable]),
                     run=np.array(str(run_dir.resolve())), bits=np.array(bits))
    return len(readable)


def search_image(codes_file: str | Path, query: str | Path, k: int = 10) -> list[tuple[int, str]]:
    """The k encoded images nearest to ``query`` in Hamming distance: [(distance, path), ...]."""
    codes_file, query = Path(codes_file), Path(query)
    if not query.is_file():
        raise FileNotFoundError(f"--query {query} not found; give an image file")
    if not codes_file.is_file():
        raise FileNotFoundError(f"--codes {codes_file} not found; write it with encode first")
    try:
        with np.load(codes_file) as saved:
            saved = {name: saved[name] for name in ("codes", "paths", "run", "bits")}
    except NPZ_ERRORS as error:
        raise ValueError(f"{codes_file} is not a codes file written by encode ({type(error).__name__}); "
                         "it is safe to delete: encode the images again") from error
    run_dir, bits = Path(str(saved["run"])), int(saved["bits"])
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{codes_file} was encoded with the run {run_dir}, which is gone; "
                                "encode the images again with an existing run")
    if bits not in read_config(run_dir)["bits"]:
        raise ValueError(f"{codes_file} holds {bits}-bit codes of {run_dir}, which no longer has {bits}-bit codes; "
                         "encode the images again")
    method, model, device = _load(_sub_run(run_dir, bits)[0])
    _, eval_transform = make_transforms(method.config.image_size, augment=False)
    query_set = FileImages([query], np.zeros(1, np.int64), method.config.image_size, eval_transform,
                           replace_unreadable=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unreadable query is an error, below
        query_code = binary_codes(method, model, query_set, device)[bits]
    if query_set.unreadable:
        raise ValueError(f"--query {query} cannot be read ({query_set.unreadable[0]}); "
                         "give a JPEG, PNG or another image file PIL opens")
    index = HammingIndex(bits)
    index.add(saved["codes"])
    distances, indices = index.search(query_code, min(k, len(index)))
    return [(int(d), str(saved["paths"][i])) for d, i in zip(distances[0], indices[0])]
