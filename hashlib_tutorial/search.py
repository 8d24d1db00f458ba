"""Hash your own photos with a trained run and query them by image.

    python -m hashlib_tutorial encode --run runs/dpfah --images ~/Pictures --out codes.npz
    python -m hashlib_tutorial search --codes codes.npz --query ~/Pictures/cat.jpg -k 10
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .data import IMAGE_SUFFIXES, FileImages
from .engine import make_transforms, resolve_device
from .evaluate import binary_codes, load_model
from .index import HammingIndex


def _sub_run(run_dir: Path, bits: int | None) -> tuple[Path, int]:
    """The sub-run of ``run_dir`` that holds ``bits`` (or the only length), and that length."""
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir} has no config.json: pass a run directory written by train")
    lengths = json.loads(config_path.read_text())["bits"]
    if bits is None and len(lengths) > 1:
        raise ValueError(f"{run_dir} has codes of {lengths} bits: choose one with --bits")
    bits = bits or lengths[0]
    if bits not in lengths:
        raise ValueError(f"{run_dir} has no {bits}-bit codes; choose one of {lengths}")
    candidates = [p for p in run_dir.glob("*bits") if str(bits) in p.name.removesuffix("bits").split("-")]
    if not candidates or not (candidates[0] / "best.pt").exists():
        raise FileNotFoundError(f"no trained model for {bits} bits in {run_dir} (encode needs a deep method)")
    return candidates[0], bits


def _classes_of(run_dir: Path) -> int:
    """The size of the classifier the run was trained with, read from its checkpoint."""
    saved = torch.load(next(run_dir.glob("*bits/best.pt")), map_location="cpu", weights_only=True)["model"]
    return saved["classifier.weight"].shape[0] if "classifier.weight" in saved else 1


def encode_folder(run_dir: str | Path, images: str | Path, out: str | Path, bits: int | None = None,
                  progress: bool = True) -> int:
    """Encode every image under ``images`` (recursively) and save codes, paths and the run to ``out``."""
    run_dir, images = Path(run_dir), Path(images)
    paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {images}")
    sub_run, bits = _sub_run(run_dir, bits)
    device = resolve_device()
    method, model = load_model(sub_run, _classes_of(run_dir), device)
    _, eval_transform = make_transforms(method.config.image_size, augment=False)
    dataset = FileImages(paths, np.zeros(len(paths), np.int64), method.config.image_size, eval_transform)
    codes = binary_codes(method, model, dataset, device, progress=progress)[bits]
    np.savez(out, codes=codes, paths=np.array([str(p) for p in paths]), run=str(run_dir.resolve()), bits=bits)
    return len(paths)


def search_image(codes_file: str | Path, query: str | Path, k: int = 10) -> list[tuple[int, str]]:
    """The k encoded images nearest to ``query`` in Hamming distance: [(distance, path), ...]."""
    saved = np.load(codes_file)
    run_dir, bits = Path(str(saved["run"])), int(saved["bits"])
    sub_run, _ = _sub_run(run_dir, bits)
    device = resolve_device()
    method, model = load_model(sub_run, _classes_of(run_dir), device)
    _, eval_transform = make_transforms(method.config.image_size, augment=False)
    query_set = FileImages([Path(query)], np.zeros(1, np.int64), method.config.image_size, eval_transform)
    query_code = binary_codes(method, model, query_set, device)[bits]
    index = HammingIndex(bits)
    index.add(saved["codes"])
    distances, indices = index.search(query_code, min(k, len(index)))
    return [(int(d), str(saved["paths"][i])) for d, i in zip(distances[0], indices[0])]
