"""Run directories: the one owner of their format. What ``train`` writes, how it is read back, and the
checks that keep a run safe to resume and to read.

    <out>/.hashlib_run    the marker: a run folder that train wrote (see guard.made_by_train)
    <out>/config.json     the settings: every TrainConfig field, with all the code lengths
    <out>/splits.npz      the split indices
    <out>/metrics.json    the results, with their provenance
    <out>/<K>bits/        one sub-run per model (<K1>-<K2>-...bits for a multi-length method):
                          checkpoint.pt (last epoch), best.pt (best validation mAP), history.json

Every file is written atomically. A missing or damaged file becomes one error that names the file and
what to do about it. Which folders train may write into or replace, and the lock while it trains in
one, are :mod:`guard`'s.
"""

from __future__ import annotations

import functools
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import PROJECT_ROOT
from ..data.files import NPZ_ERRORS, atomic_write, read_json
from ..data.splits import RetrievalSplits, load_data
from .config import TrainConfig
from .methods import Method
from .registry import method_for, model_groups

REWRITE_REMEDY = "restore it (git checkout -- <file>, for a committed run), or write it again: train the run with --resume"


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


def as_config(settings: dict, path: Path) -> TrainConfig:
    """The TrainConfig of settings saved in ``path`` (config.json or a checkpoint's "config")."""
    unknown = set(settings) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path} has settings {sorted(unknown)} that this version of hashlib_tutorial does not "
                         "know; train the run again (--overwrite)")
    return TrainConfig(**settings)


def run_config(run_dir: str | Path) -> TrainConfig:
    """The TrainConfig of a run, from its config.json (all its code lengths in ``bits``)."""
    return as_config(read_config(run_dir), Path(run_dir) / "config.json")


def sub_run_dirs(run_dir: str | Path, method: str, bits) -> dict[tuple[int, ...], Path]:
    """{code lengths of one model: its sub-run directory}: <K>bits per length, or one for a multi-length method."""
    return {group: Path(run_dir) / f"{'-'.join(map(str, group))}bits" for group in model_groups(method, bits)}


def sub_runs(run_dir: str | Path) -> dict[tuple[int, ...], Path]:
    """The sub-runs that a run's config.json names (a leftover <K>bits/ folder is not one of them)."""
    config = read_config(run_dir)
    return sub_run_dirs(run_dir, config["method"], config["bits"])


def sub_run_of(run_dir: str | Path, bits: int | None = None) -> tuple[Path, int]:
    """The sub-run of ``run_dir`` that holds ``bits`` (None: the run's only length), and that length."""
    lengths = read_config(run_dir)["bits"]
    if bits is None and len(lengths) > 1:
        raise ValueError(f"{run_dir} has codes of {lengths} bits: choose one with --bits")
    bits = bits or lengths[0]
    if bits not in lengths:
        raise ValueError(f"{run_dir} has no {bits}-bit codes; choose --bits from {lengths}")
    return next(path for group, path in sub_runs(run_dir).items() if bits in group), bits


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


# ------------------------------------------------------------------------------------- writing a run
def save_json(path: Path, obj) -> None:
    """``obj`` as indented JSON, written atomically."""
    atomic_write(Path(path), lambda p: p.write_text(json.dumps(obj, indent=2, default=str) + "\n"))


def save_checkpoint(path: Path, model: nn.Module, config: TrainConfig, **extra) -> None:
    """A checkpoint that :func:`load_checkpoint` reads: the model's weights, its config and ``extra``, atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # through a Python file: a full disk raises OSError(ENOSPC), see atomic_write
            torch.save({"model": model.state_dict(), "config": config.to_dict(), **extra}, f)

    atomic_write(path, write)


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" picks cuda, then mps, then cpu; any other name is passed to torch.device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def usable_device(name: str) -> torch.device:
    """resolve_device, refusing a device that torch does not know or this machine does not have."""
    try:
        device = resolve_device(name)
    except RuntimeError:  # torch.device("bogus")
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:<index> or mps")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPUs visible to torch; "
                         "use --device auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS (Apple GPU) is not available here; use --device auto or cpu")
    return device


@functools.cache
def git_commit() -> str:
    """The project's commit, +dirty when the package's code has uncommitted changes; read once per
    process, at the start of a run (edits to notebooks or docs during a run do not mark it)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "hashlib_tutorial"],
                               cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def hardware(device: torch.device | str) -> dict:
    """The processor a run used: its name and the widest vector instructions torch uses on it (e.g.
    AVX512, AVX2); and the GPU's name on CUDA. Seconds measured on one machine say little about another."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = names[0].strip() if names else cpu
    found = {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.device(device).type == "cuda":
        found["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return found


def provenance(command: str | None, device: torch.device | str, started: float) -> dict:
    """Where a result comes from: the command, the code's commit, the device, its hardware and threads,
    the seconds since ``started``."""
    return {"command": command or " ".join(sys.argv), "git_commit": git_commit(), "device": str(device),
            "hardware": hardware(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "seconds": round(time.time() - started, 1)}


# TrainConfig fields that a resume may change: they do not change what is learned.
RESUMABLE_CHANGES = ("device", "compile")
RESTART_REMEDY = "--resume trains this model again from its first epoch"


def with_defaults(saved: dict) -> dict:
    """Saved settings with every field they lack (saved before the field existed) at its default, as JSON types."""
    defaults = TrainConfig(method="", bits=()).to_dict()  # every field but method and bits has one
    return json.loads(json.dumps({**defaults, **saved}, default=str))  # tuples as lists


def changed_settings(saved: dict, wanted: dict) -> list[str]:
    """"field old -> new" for every TrainConfig field but RESUMABLE_CHANGES in which ``saved`` differs from ``wanted``.

    Every field counts, new ones included; a field missing from ``saved`` counts as its default.
    """
    saved, wanted = with_defaults(saved), json.loads(json.dumps(wanted, default=str))
    return [f"{key} {saved.get(key)!r} -> {wanted.get(key)!r}" for key in {**wanted, **saved}
            if key not in RESUMABLE_CHANGES and saved.get(key) != wanted.get(key)]


def check_compatible(saved: dict, wanted: dict, path: Path) -> None:
    """Refuse to resume from ``path`` unless its settings match ``wanted`` (see :func:`changed_settings`).

    ``epochs`` must match too: the learning-rate schedule spans the whole run, so a longer run is
    refused rather than given a stretched schedule.

    Args:
        saved: the settings the run was started with (config.json, or a checkpoint's "config").
        wanted: the settings asked for now, as TrainConfig.to_dict() gives them.
        path: the file ``saved`` comes from, for the message.
    """
    changed = changed_settings(saved, wanted)
    if changed:
        epochs = "; --epochs cannot change on resume (the learning-rate schedule spans the run)" \
            if any(c.startswith("epochs ") for c in changed) else ""
        raise ValueError(f"cannot resume {path}: it was started with other settings ({', '.join(changed)}){epochs}; "
                         "resume with its settings, or start again with --overwrite or another --out")


# ------------------------------------------------------------------------------------- reading a run
def load_model(sub_run: Path, num_classes: int, device: torch.device | None = None) -> tuple[Method, nn.Module]:
    """The method and best model of a trained sub-run directory (``best.pt`` and its config)."""
    path = Path(sub_run) / "best.pt"
    if not path.exists():
        raise FileNotFoundError(f"no best.pt in {sub_run}: train it first (python -m hashlib_tutorial train ...; "
                                "--resume finishes an interrupted run)")
    saved = load_checkpoint(path)
    method = method_for(as_config(saved["config"], path))
    model = method.build_model(num_classes)
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit the model its config describes ({error}); was it written by "
                         "another version of hashlib_tutorial?") from error
    return method, model.to(device or "cpu").eval()


def load_run(run_dir: Path, bits: int | None = None) -> tuple[Method, nn.Module, RetrievalSplits]:
    """(method, model, splits) of a trained run directory; ``bits`` picks a sub-run when there are several.

    The splits are rebuilt from the run's config.json and checked against its splits.npz.
    """
    config = run_config(run_dir)
    splits = load_data(config)
    check_saved_splits(Path(run_dir), splits)
    sub_run, _ = sub_run_of(run_dir, bits or config.bits[0])
    method, model = load_model(sub_run, splits.num_classes, resolve_device(config.device))
    return method, model, splits


def run_summary(run_dir: Path, bits: int) -> dict:
    """The headline numbers of one code length of a run, with its settings and training history."""
    config = read_config(run_dir)
    result = read_metrics(run_dir)["results"][str(bits)]
    sub_run, _ = sub_run_of(run_dir, bits)
    return {"epochs": config["epochs"], "attention": config["attention"], "mAP": result["mAP"],
            "mAP_tie_aware": result["mAP_tie_aware"], "P@r<=2": result["precision_radius2"],
            "seconds": result["train_seconds"], "history": read_json(sub_run / "history.json", REWRITE_REMEDY)}


def read_metrics(run_dir: str | Path) -> dict:
    """A run's metrics.json; a damaged one is a ValueError that names it and what to do."""
    return read_json(Path(run_dir) / "metrics.json", REWRITE_REMEDY)
