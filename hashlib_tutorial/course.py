"""What the notebooks share: the profile to run, and trained runs reused across notebooks.

The profile is ``HASHLIB_PROFILE`` when set (one of :data:`training.config.PROFILES`), else "quick", on a
CPU and on a GPU alike (the GPU simply trains it faster). :func:`course_run` returns a trained run directory with exactly the configuration
asked for, from the first place that has one:

1. ``checkpoints/<profile>/``: the committed runs of :data:`COURSE_RUNS` (best model, metrics, splits
   and history; a few MB each), written by ``python -m hashlib_tutorial checkpoints``;
2. ``results/<profile>/runs/``: the runs of ``reproduce`` into the project's ``results/`` (its default ``--out``);
3. ``runs/course/``: a run trained now, once, and reused by later notebooks.

So the course opens trained models at once; ``python -m hashlib_tutorial checkpoints --retrain``
trains them again (about an hour on 2 CPU cores), or pick another profile to train your own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from . import PROJECT_ROOT
from .data.files import read_json
from .training.config import PROFILES, TrainConfig
from .training.registry import build_method, method_class, method_for
from .training.runs import (REWRITE_REMEDY, as_config, changed_settings, load_checkpoint, read_config, save_json,
                            sub_runs, with_defaults)
from .training.train import train

CHECKPOINTS = PROJECT_ROOT / "checkpoints"
_IGNORED = ("bits", "data_dir", "device", "compile")  # fields that do not change what a run learns
# The gallery's model (10): DPFAH with the profile's recipe on the `cifar10` protocol, whose 54,000-image
# database is disjoint from the training images, so a gallery shows images the model has never seen.
GALLERY = {"protocol": "cifar10"}
# Every trained run the notebooks open: (method, bits, dataset, overrides).
COURSE_RUNS = (
    ("dah", (48,), "cifar10", {}),                               # 04, 07, 09
    ("dah", (48,), "cifar10", {"attention": None}),              # 04: NoneA-DAH
    ("dpfah", (32,), "cifar10", {}),                             # 05, 07, 08, 09, 10
    ("dpfah", (32,), "cifar10", {"attention": None}),            # 05, 09
    ("dpfah", (32,), "cifar10", {"attention": None, "loss_weights": {"eta": 0.0, "zeta": 0.0}}),  # 05
    ("dpfah", (16,), "cifar10", GALLERY),                        # 10
    ("dpfah", (32,), "cifar10", GALLERY),                        # 10
    ("dpsh", (32,), "cifar10", {}),                              # 07, 08
    ("lsh", (32,), "cifar10", {}),                               # 07
    ("itq", (32,), "cifar10", {}),                               # 07, 08
    ("admth", (16, 32, 48, 64), "cifar10-mosaic", {"mosaic_classes": 2}),  # 06
    ("admth", (16, 32, 48, 64), "cifar10", {}),                  # 06: single-label, the quick protocol
)
_KEPT = ("config.json", "metrics.json", "splits.npz", "best.pt", "history.json")  # not checkpoint.pt


def course_profile() -> str:
    """HASHLIB_PROFILE if set, else "quick" (the profile of the committed checkpoints)."""
    profile = os.environ.get("HASHLIB_PROFILE") or "quick"
    if profile not in PROFILES:
        raise ValueError(f"HASHLIB_PROFILE={profile!r}; choose one of {PROFILES}")
    return profile


def course_config(method: str, bits, dataset: str = "cifar10", **overrides) -> TrainConfig:
    """The configuration a notebook asks for: the course profile's, with ``overrides``."""
    return build_method(method, bits, course_profile(), dataset=dataset, **overrides).config


def _same(saved: dict, wanted: dict) -> bool:
    saved = with_defaults(saved)  # a field added since the run was saved counts as its default
    return all(saved.get(k) == v for k, v in wanted.items() if k not in _IGNORED)


def _remedy(path: Path) -> str:
    """What to do about a damaged file of a saved run: a committed checkpoint is restored or trained again."""
    if not path.is_relative_to(CHECKPOINTS):
        return REWRITE_REMEDY
    shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    return f"restore it (git checkout -- {shown}) or train it again (python -m hashlib_tutorial checkpoints --retrain)"


def _read(path: Path) -> dict:
    """A saved run's config.json or metrics.json; a damaged one is a ValueError naming it and :func:`_remedy`."""
    return read_json(path, _remedy(path))


def _has_bits(run_dir: Path, bits: tuple[int, ...]) -> bool:
    path = run_dir / "metrics.json"
    return path.exists() and all(str(b) in _read(path)["results"] for b in bits)


def _matching(folder: Path, wanted: dict, bits: tuple[int, ...]) -> Path | None:
    """The run under ``folder`` saved with the configuration ``wanted`` and every length of ``bits``, if any."""
    for saved in sorted(folder.glob("*/config.json")):
        if _same(_read(saved), wanted) and _has_bits(saved.parent, bits):
            return saved.parent
    return None


def course_run(method: str, bits, dataset: str = "cifar10", *, retrain: bool = False, command: str | None = None,
               **overrides) -> Path:
    """A trained run of ``method`` with this configuration (see the module docstring). Returns its directory.

    A saved run is reused only when its ``config.json`` matches the configuration asked for, so a
    changed protocol, epoch count or loss weight trains again instead of showing stale results.
    ``retrain=True`` skips the committed checkpoints and the ``reproduce`` runs (a run of this
    configuration already trained into ``runs/course/`` is still reused). ``command`` is recorded in
    the run's provenance (default: this call, written out).
    """
    config = course_config(method, bits, dataset, **overrides)
    wanted = config.as_saved()
    for folder in () if retrain else (CHECKPOINTS / config.profile, PROJECT_ROOT / "results" / config.profile / "runs"):
        if found := _matching(folder, wanted, config.bits):
            return found
    digest = hashlib.sha1(json.dumps({k: v for k, v in wanted.items() if k not in _IGNORED}, sort_keys=True).encode())
    run_dir = PROJECT_ROOT / "runs" / "course" / f"{method}_{dataset}_{'-'.join(map(str, config.bits))}_{digest.hexdigest()[:8]}"
    if not _has_bits(run_dir, config.bits):
        fields = {k: v for k, v in config.to_dict().items() if k not in ("method", "bits", "profile")}
        call = ", ".join([repr(method), repr(bits), repr(dataset), *(f"{k}={v!r}" for k, v in overrides.items())])
        train(method, config.bits, run_dir, config.profile, resume=True, progress=False,
              command=command or f"hashlib_tutorial.course.course_run({call})", **fields)
    return run_dir


def _mAP(run_dir: Path) -> str:
    results = _read(run_dir / "metrics.json")["results"]
    return " / ".join(f"{r['mAP']:.3f}" for r in results.values())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_weights(run_dir: Path) -> None:
    """Write the sha256 of each best.pt into the run's metrics.json (provenance.weights_sha256), so a later
    :func:`check_weights` knows the weights its numbers were measured with."""
    metrics = _read(run_dir / "metrics.json")
    metrics.setdefault("provenance", {})["weights_sha256"] = {str(p.relative_to(run_dir)): _sha256(p)
                                               for p in sorted(run_dir.glob("*bits/best.pt"))}
    save_json(run_dir / "metrics.json", metrics)


def check_weights(run_dir: Path) -> None:
    """Refuse a committed run whose best.pt does not load into the model its config describes, was trained
    with other settings than its config.json, or is not the file whose sha256 its metrics.json records."""
    remedy = _remedy(run_dir)
    config = read_config(run_dir)
    recorded = _read(run_dir / "metrics.json").get("provenance", {}).get("weights_sha256", {})
    if not method_class(config["method"]).deep:
        return  # lsh, itq: no weights (evaluate refits them, seeded)
    for sub_run in sub_runs(run_dir).values():
        path = sub_run / "best.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; {remedy}")
        saved = load_checkpoint(path, remedy)
        weights = saved["model"]
        model = method_for(as_config(saved["config"], path)).build_model(
            weights["classifier.weight"].shape[0] if "classifier.weight" in weights else 1)
        try:
            fit = model.load_state_dict(weights, strict=False)
            problem = ", ".join([f"missing {k}" for k in fit.missing_keys[:3]] + [f"unexpected {k}" for k in fit.unexpected_keys[:3]])
        except RuntimeError as error:  # a tensor of another shape
            problem = " ".join(str(error).split())[:200]
        if problem:
            raise ValueError(f"{path} does not fit the model its config describes ({problem}); {remedy}")
        if changed := changed_settings(with_defaults({**saved["config"], "bits": None}), {**with_defaults(config), "bits": None}):
            raise ValueError(f"{path} was trained with other settings than {run_dir / 'config.json'} ({', '.join(changed)}); {remedy}")
        name = str(path.relative_to(run_dir))
        if name in recorded and _sha256(path) != recorded[name]:
            raise ValueError(f"{path} holds not the weights metrics.json was measured with (its sha256 differs from the "
                             f"one recorded there); {remedy}")


def save_checkpoints(retrain: bool = False, command: str = "python -m hashlib_tutorial checkpoints") -> list[Path]:
    """Every run of :data:`COURSE_RUNS` under the course profile, copied without its resumable
    ``checkpoint.pt`` into ``checkpoints/<profile>/`` (to commit), and its mAP printed.

    Runs already there are kept; ``retrain=True`` trains each one again (:func:`course_run`), prints
    the new mAP beside the committed one, and replaces the committed copy. Runs train with
    ``compile=True`` (torch.compile: faster steps, the same model). A copy records the sha256 of its
    weights in its metrics.json; every committed run is checked (:func:`check_weights`) before its mAP
    is printed, so a damaged or swapped weight file is one error, not a table of stale numbers.
    """
    saved = []
    for method, bits, dataset, overrides in COURSE_RUNS:
        config = course_config(method, bits, dataset, **overrides)
        committed = _matching(CHECKPOINTS / config.profile, config.as_saved(), config.bits)
        before = f" (committed: {_mAP(committed)})" if committed and retrain else ""
        run_dir = course_run(method, bits, dataset, retrain=retrain, command=command, **{**overrides, "compile": True})
        target = committed or CHECKPOINTS / config.profile / run_dir.name
        if run_dir != target:
            shutil.rmtree(target, ignore_errors=True)
            for path in run_dir.rglob("*"):
                if path.is_file() and path.name in _KEPT:
                    (target / path.relative_to(run_dir)).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.relative_to(run_dir))
            _record_weights(target)
        check_weights(target)
        saved.append(target)
        print(f"{method} {'/'.join(map(str, config.bits))} bits, {dataset} {overrides or ''}: mAP {_mAP(target)}{before}"
              f" -> {target.relative_to(PROJECT_ROOT)}", flush=True)
    return saved
