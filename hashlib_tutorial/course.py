"""What the notebooks share: the profile to run, and trained runs reused across notebooks.

The profile is ``HASHLIB_PROFILE`` when set (one of :data:`training.config.PROFILES`), else "demo" on a CPU
and "quick" on a GPU. :func:`course_run` returns a trained run directory: a run that ``reproduce``
wrote with exactly the configuration asked for, when one exists, else a run trained now (once) into
``runs/course/``, which later notebooks reuse; so a course after ``make demo`` (the demo profile)
trains only its ablations.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .training.config import PROFILES, TrainConfig
from .training.registry import build_method
from .training.train import train

ROOT = Path(__file__).resolve().parent.parent
_IGNORED = ("bits", "data_dir", "device")  # fields that do not change what a run learns


def course_profile() -> str:
    """HASHLIB_PROFILE if set, else "quick" with a GPU and "demo" without one."""
    profile = os.environ.get("HASHLIB_PROFILE") or ("quick" if torch.cuda.is_available() else "demo")
    if profile not in PROFILES:
        raise ValueError(f"HASHLIB_PROFILE={profile!r}; choose one of {PROFILES}")
    return profile


def course_config(method: str, bits, dataset: str = "cifar10", **overrides) -> TrainConfig:
    """The configuration a notebook asks for: the course profile's, with ``overrides``."""
    return build_method(method, bits, course_profile(), dataset=dataset, **overrides).config


def _same(saved: dict, wanted: dict) -> bool:
    return all(saved.get(k) == v for k, v in wanted.items() if k not in _IGNORED)


def _has_bits(run_dir: Path, bits: tuple[int, ...]) -> bool:
    path = run_dir / "metrics.json"
    return path.exists() and all(str(b) in json.loads(path.read_text())["results"] for b in bits)


def course_run(method: str, bits, dataset: str = "cifar10", **overrides) -> Path:
    """A trained run of ``method`` with this configuration (see the module docstring). Returns its directory.

    A cached run is reused only when its saved ``config.json`` matches the configuration asked for,
    so a changed protocol, epoch count or loss weight trains again instead of showing stale results.
    """
    config = course_config(method, bits, dataset, **overrides)
    wanted = json.loads(json.dumps(config.to_dict()))  # tuples as lists, as config.json stores them
    for saved in sorted((ROOT / "results" / config.profile / "runs").glob("*/config.json")):
        if _same(json.loads(saved.read_text()), wanted) and _has_bits(saved.parent, config.bits):
            return saved.parent
    digest = hashlib.sha1(json.dumps({k: v for k, v in wanted.items() if k not in _IGNORED}, sort_keys=True).encode())
    run_dir = ROOT / "runs" / "course" / f"{method}_{dataset}_{'-'.join(map(str, config.bits))}_{digest.hexdigest()[:8]}"
    if not _has_bits(run_dir, config.bits):
        fields = {k: v for k, v in config.to_dict().items() if k not in ("method", "bits", "profile")}
        train(method, config.bits, run_dir, config.profile, resume=True, progress=False, **fields)
    return run_dir

