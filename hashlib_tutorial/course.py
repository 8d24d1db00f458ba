"""What the notebooks share: the profile to run, and trained runs reused across notebooks.

The profile is ``HASHLIB_PROFILE`` when set ("quick" or "paper"), else "paper" on a GPU and "quick"
on a CPU. :func:`course_run` returns a trained run directory: the one ``reproduce`` wrote, when it
exists, else a short run trained now (once) into ``runs/course/``, which later notebooks reuse.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .engine import load_data, resolve_device, train
from .evaluate import load_model
from .methods import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
COURSE_EPOCHS = {"dpfah": 5, "dpsh": 5, "dsh": 5, "dah": 3, "admth": 4}  # about a minute each on 2 cores


def course_profile() -> str:
    """HASHLIB_PROFILE if set, else "paper" with a GPU and "quick" without one."""
    profile = os.environ.get("HASHLIB_PROFILE") or ("paper" if torch.cuda.is_available() else "quick")
    if profile not in ("quick", "paper"):
        raise ValueError(f"HASHLIB_PROFILE={profile!r}; choose 'quick' or 'paper'")
    return profile


def course_run(method: str, bits, dataset: str = "cifar10", **overrides) -> Path:
    """A trained run of ``method`` for the notebooks (see the module docstring). Returns its directory."""
    bits = (bits,) if isinstance(bits, int) else tuple(bits)
    profile = course_profile()
    reproduced = ROOT / "results" / profile / "runs" / method
    if dataset == "cifar10" and not overrides and _has_bits(reproduced, bits):
        return reproduced
    tag = "-".join(map(str, bits)) + "".join(f"_{k}={v}" for k, v in sorted(overrides.items()))
    run_dir = ROOT / "runs" / "course" / f"{method}_{dataset}_{tag}"
    if not (run_dir / "metrics.json").exists():
        settings = {"epochs": COURSE_EPOCHS.get(method, 10), "protocol": "quick", "dataset": dataset} if profile == "quick" else {}
        train(method, bits, run_dir, profile, progress=False, **{**settings, **overrides})
    return run_dir


def _has_bits(run_dir: Path, bits: tuple[int, ...]) -> bool:
    path = run_dir / "metrics.json"
    return path.exists() and all(str(b) in json.loads(path.read_text())["results"] for b in bits)


def load_run(run_dir: Path, bits: int | None = None):
    """(method, model, splits) of a trained run directory; ``bits`` picks a sub-run when there are several."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    splits = load_data(TrainConfig(**{**config, "bits": tuple(config["bits"])}))
    bits = bits or config["bits"][0]
    sub_run = next(p for p in sorted(Path(run_dir).glob("*bits")) if str(bits) in p.name.removesuffix("bits").split("-"))
    method, model = load_model(sub_run, splits.num_classes, resolve_device(config["device"]))
    return method, model, splits
