"""Hash your own photos with a trained run and query them by image.

    python -m hashlib_tutorial encode --run runs/dpfah --images ~/Pictures --out codes.npz
    python -m hashlib_tutorial search --codes codes.npz --query ~/Pictures/cat.jpg -k 10

An image that cannot be read gets one warning and no code: encode skips it (and says how many it
skipped), search refuses it as a query. The codes file records the run, the code length and the
sha256 of the sub-run's ``best.pt``: search refuses codes whose weights the run no longer holds (it
was trained again), since codes of two models cannot be compared.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .data.augment import make_transforms
from .data.datasets import IMAGE_SUFFIXES, FileImages
from .data.files import NPZ_ERRORS, save_npz
from .data.folders import image_files
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


def weights_fingerprint(sub_run: Path) -> str:
    """The sha256 of a sub-run's best.pt: which weights a codes file was encoded with."""
    return hashlib.sha256((sub_run / "best.pt").read_bytes()).hexdigest()


def _check_out(out: Path) -> None:
    """Refuse an ``out`` that cannot be written, before any image is encoded."""
    folder = next(p for p in out.parents if p.exists())  # the nearest existing folder above it
    if not folder.is_dir():
        raise ValueError(f"--out {out} is below {folder}, which is a file, not a folder; give a path in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"--out {out}: cannot write in {folder} (permission denied); give a folder you can write")


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
    run_dir, images, out = Path(run_dir), Path(images), Path(out)
    _check_out(out)
    if not images.is_dir():
        raise FileNotFoundError(f"--images {images} is not a folder; give a folder of images")
    paths = image_files(images)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {images}")
    sub_run, bits = _sub_run(run_dir, bits)
    fingerprint = weights_fingerprint(sub_run)
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
    save_npz(out, codes=codes[readable], paths=np.array([str(paths[i]) for i in readable]),
             run=np.array(str(run_dir.resolve())), bits=np.array(bits), weights=np.array(fingerprint))
    return len(readable)


def search_image(codes_file: str | Path, query: str | Path, k: int = 10) -> list[tuple[int, str]]:
    """The k encoded images nearest to ``query`` in Hamming distance: [(distance, path), ...]."""
    codes_file, query = Path(codes_file), Path(query)
    if not query.is_file():
        raise FileNotFoundError(f"--query {query} not found; give an image file")
    if not codes_file.is_file():
        raise FileNotFoundError(f"--codes {codes_file} not found; write it with encode first")
    saved = _read_codes(codes_file)
    run_dir, bits = Path(str(saved["run"])), int(saved["bits"])
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{codes_file} was encoded with the run {run_dir}, which is gone; "
                                "encode the images again with an existing run")
    if bits not in read_config(run_dir)["bits"]:
        raise ValueError(f"{codes_file} holds {bits}-bit codes of {run_dir}, which no longer has {bits}-bit codes; "
                         "encode the images again")
    sub_run = _sub_run(run_dir, bits)[0]
    images = os.path.commonpath([str(Path(p).parent) for p in saved["paths"]]) if len(saved["paths"]) else "<folder>"
    again = (f"encode the images again: python -m hashlib_tutorial encode --run {run_dir} --bits {bits} "
             f"--images {images} --out {codes_file} --overwrite")
    if "weights" not in saved:
        raise ValueError(f"{codes_file} records no fingerprint of the weights it was encoded with (an older encode "
                         f"wrote it), so it cannot be checked against {sub_run / 'best.pt'}; {again}")
    if str(saved["weights"]) != weights_fingerprint(sub_run):
        raise ValueError(f"{codes_file} was encoded with other weights than {sub_run / 'best.pt'} holds now (the run "
                         f"was trained again since), and codes of two models do not compare; {again}")
    method, model, device = _load(sub_run)
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


def _read_codes(codes_file: Path) -> dict[str, np.ndarray]:
    """The arrays of a codes file written by encode ("weights" is missing from those of older versions)."""
    not_codes = f"--codes {codes_file} is not a codes file written by encode"
    try:
        saved = np.load(codes_file)
        if not isinstance(saved, np.lib.npyio.NpzFile):  # a .npy file: one array
            raise ValueError("one array, not an .npz")
        with saved:
            arrays = {name: saved[name] for name in saved.files}
    except NPZ_ERRORS as error:
        raise ValueError(f"{not_codes}, or it is damaged ({type(error).__name__}: not a readable .npz); give the "
                         "file that encode --out wrote, or encode the images again") from error
    if missing := {"codes", "paths", "run", "bits"} - set(arrays):
        raise ValueError(f"{not_codes}: it holds {', '.join(arrays) or 'no arrays'}, not {', '.join(sorted(missing))}; "
                         "give the file that encode --out wrote")
    return arrays
