"""Run directories: the files ``train`` writes, and the checks that keep a run safe to resume and to read.

    <out>/config.json     the settings: every TrainConfig field, with all the code lengths
    <out>/splits.npz      the split indices
    <out>/metrics.json    the results
    <out>/<K>bits/        one sub-run per model: checkpoint.pt (last epoch), best.pt, history.json

A missing or damaged file becomes one error that names the file and what to do about it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from .data import NPZ_ERRORS, RetrievalSplits
from .methods import method_class

RUN_FILES = ("config.json", "splits.npz", "metrics.json")
SUB_RUN = re.compile(r"\d+(-\d+)*bits")  # 16bits, or 16-32-48-64bits for a multi-length method


def read_config(run_dir: str | Path) -> dict:
    """The settings a run saved in config.json."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no config.json: pass a run directory written by train")
    try:
        config = json.loads(path.read_text())
    except ValueError:  # not JSON, or not UTF-8 text
        config = None
    if not (isinstance(config, dict) and {"method", "bits"} <= config.keys()):
        raise ValueError(f"{path} is damaged (not the JSON settings that train writes); "
                         "restore it, or train the run again (--overwrite)")
    return config


def sub_run_dirs(run_dir: str | Path, method: str, bits) -> dict[tuple[int, ...], Path]:
    """{code lengths of one model: its sub-run directory}: <K>bits per length, or one for a multi-length method."""
    bits = tuple(bits)
    groups = [bits] if method_class(method).multi_length else [(b,) for b in bits]
    return {group: Path(run_dir) / f"{'-'.join(map(str, group))}bits" for group in groups}


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an ``out`` that training would damage.

    A new or empty folder is fine; a folder holding a run needs ``resume`` (continue it) or
    ``overwrite`` (replace it); anything else (a file, a folder of other things) is refused.
    """
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: pass only one")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; give a new folder for the run")
    if not out.exists() or not any(out.iterdir()):
        return
    if not (out / "config.json").exists():
        raise ValueError(f"--out {out} is not empty and holds no run (no config.json); "
                         "give a new or empty folder for the run")
    if not (resume or overwrite):
        config = read_config(out)
        bits = ", ".join(map(str, config["bits"]))
        raise ValueError(f"--out {out} already holds a run ({config['method']}, {bits} bits); "
                         "pass --resume to continue it, --overwrite to replace it, or give another --out")


def remove_run(out: Path) -> None:
    """Delete what a run wrote in ``out`` (RUN_FILES and the <K>bits sub-runs), and nothing else."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for sub_run in out.iterdir():
        if sub_run.is_dir() and SUB_RUN.fullmatch(sub_run.name):
            shutil.rmtree(sub_run)


def load_checkpoint(path: Path, remedy: str = "train the run again (--overwrite)") -> dict:
    """A checkpoint this project wrote (a dict with "model" and "config"), read onto the CPU with
    ``weights_only=True``; load_state_dict then copies it to the model's device.

    Args:
        path: checkpoint.pt or best.pt.
        remedy: what to do once the damaged file is deleted, for the error message.
    """
    damaged = "{} is damaged or was not written by train ({}); it is safe to delete, then {}"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, MemoryError):  # missing, unreadable or too large: not damaged
        raise
    except Exception as error:  # a damaged file raises RuntimeError, EOFError, UnpicklingError, KeyError...
        raise ValueError(damaged.format(path, type(error).__name__, remedy)) from error
    if not (isinstance(saved, dict) and {"model", "config"} <= saved.keys()):
        raise ValueError(damaged.format(path, "not a checkpoint", remedy))
    return saved


def check_saved_splits(run_dir: Path, splits: RetrievalSplits) -> None:
    """ValueError unless ``splits`` are the ones the run saved in splits.npz: the data is unchanged."""
    path = Path(run_dir) / "splits.npz"
    names = ("train", "val", "query", "database")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the run stopped before it saved its splits; "
                                "train it again with --resume")
    try:
        with np.load(path) as saved:
            saved = {name: saved[name] for name in names}
    except NPZ_ERRORS as error:
        raise ValueError(f"{path} is damaged ({type(error).__name__}); it is safe to delete: "
                         "train --resume writes it again") from error
    for name in names:
        if not np.array_equal(saved[name], splits.indices[name]):
            raise ValueError(f"the {name} split of the data differs from the one the run saved in {path}: "
                             "the data folder changed since the run started; restore it, or train a new run "
                             "(--overwrite or another --out)")
