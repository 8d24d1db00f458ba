"""What ``reproduce`` trains: the rows of the report's tables, each a method, its code lengths, its
overrides and its seeds.

Main rows train at the profile's full budget, once (seed 0), or under ``cpu`` and ``paper`` at every
seed of :data:`SEEDS` when one seed costs at most about an hour (:data:`SEEDED_MAIN_ROWS`). Ablation
rows (profiles ``cpu`` and ``paper``) train at every seed of :data:`SEEDS`, so the report can give a
mean and a spread and test a difference (:mod:`seeds`); under ``cpu`` they run at the ablation budget
of :func:`ablation`, on the ``cifar10`` protocol. Seed s > 0 of row ``label`` is stored as
``label-seed{s}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..training.config import CIFAR10_CPU, DAH_AS_PUBLISHED, DPFAH_WIDE, TrainConfig, merge, profile_settings

BITS = (16, 32, 48, 64)
SEEDS = (0, 1, 2)
ABLATION_EPOCHS = {"dpfah": 20, "dah": 20, "admth": 15}  # the ablation budget under ``cpu``


@dataclass(frozen=True)
class Row:
    """A method at its code lengths, with TrainConfig overrides (a dict, or a function of the profile)."""

    method: str
    bits: tuple[int, ...]
    overrides: dict | Callable[[str], dict] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)

    def settings(self, profile: str) -> dict:
        return self.overrides(profile) if callable(self.overrides) else self.overrides


def ablation(method: str, changes: dict | None = None, settings_of: str | None = None) -> Callable[[str], dict]:
    """Overrides of an ablation row: under ``cpu``, the quick settings of ``settings_of`` (default: the
    method: its network, a 10% validation split, one-view codes) on the ``cifar10`` protocol for
    ABLATION_EPOCHS epochs, then ``changes``; under ``paper``, the paper's settings of ``settings_of``,
    then ``changes``. Another method's settings lend their network and training, not their objective
    (departures, loss weights)."""
    def overrides(profile: str) -> dict:
        owner = settings_of or method
        if profile == "cpu":
            base = {**profile_settings(owner, "quick"), "protocol": "cifar10", "epochs": ABLATION_EPOCHS[owner],
                    "eval_every": ABLATION_EPOCHS[owner], "compile": True,
                    **{name: getattr(TrainConfig, name) for name in CIFAR10_CPU}}  # the quick profile's, not the main rows'
        else:
            base = dict(profile_settings(owner, profile)) if settings_of else {}
        if settings_of:
            base = {k: v for k, v in base.items() if k not in ("departures", "loss_weights")}
        return merge(base, changes or {})
    return overrides


def _seeded(method: str, bits: tuple[int, ...], changes: dict | None = None, settings_of: str | None = None) -> Row:
    return Row(method, bits, ablation(method, changes, settings_of), SEEDS)


# What each paper's objective and optimiser are, on the CPU network: the paper-faithful rows.
PAPER_OBJECTIVE = {
    "dpfah": {"optimizer": "rmsprop", "lr": 5e-5, "weight_decay": 1e-5, "lr_schedule": "constant", "grad_clip": 0.0,
              "label_smoothing": 0.0, "loss_weights": {"eta": 10.0, "zeta": 0.1}},
    "dah": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "lr_schedule": "constant", "grad_clip": 0.0,
            "label_smoothing": 0.0, "augment": False, "departures": [], "loss_weights": {"class": 1.0}},
    "admth": {"departures": [], "label_smoothing": 0.0, "loss_weights": {"alpha": 20.0, "beta": 1.0, "gamma": 0.0}},
}

MOSAICS = {"dataset": "cifar10-mosaic", "mosaic_classes": 2}  # the multi-label stand-in: two classes per mosaic

# Rows run in this order, most important first (itq-features needs dpsh), so an interrupted run has
# the headline numbers.
MAIN_ROWS = {
    "dah": Row("dah", (48,)),  # cpu: DAH's own protocol (Table 2) on the CPU network, see config.DAH
    **{f"dah-{k}": Row("dah", (k,)) for k in (12, 24, 36)},  # one row per length: each commits as it ends
    "dah-paper": Row("dah", (48,), lambda p: DAH_AS_PUBLISHED if p == "cpu" else {}),  # DAH as published
    "dpfah": Row("dpfah", BITS),
    "dpfah-wide": Row("dpfah", (32,), lambda p: DPFAH_WIDE if p == "cpu" else {}),  # a larger budget, see config
    "admth": Row("admth", BITS),
    "admth-mosaic": Row("admth", BITS, MOSAICS),  # chance 0.378
    "dpsh": Row("dpsh", BITS),  # the baselines: DPFAH's network and epochs, without SimAM (see config.DPSH)
    "dsh": Row("dsh", BITS),
    "lsh": Row("lsh", BITS),
    "itq": Row("itq", BITS),
    "itq-features": Row("itq", BITS, {"input_features": "{runs}/dpsh"}),
}
# make demo: one model of each paper (ADMTH's one model learns every length) and the non-deep baselines
# (DPSH, trained by the course notebooks, is left out to keep make demo within 20 minutes).
DEMO_ROWS = {
    "dpfah": Row("dpfah", (32,)),
    "dah": Row("dah", (48,)),
    "admth": Row("admth", BITS),
    "lsh": Row("lsh", BITS),
    "itq": Row("itq", BITS),
}
# Ablations (profiles cpu and paper), each at every seed, at one code length where a row would
# otherwise cost four runs. Each paper's block starts with the recipe at the ablation budget.
ABLATION_ROWS = {
    # DPFAH Table 5: backbone, + SimAM, + the quantisation and class losses; SimAM at the stem or in every block
    "dpfah-recipe": _seeded("dpfah", (32,)),
    "dpfah-backbone": _seeded("dpfah", (32,), {"attention": None, "loss_weights": {"eta": 0.0, "zeta": 0.0}}),
    "dpfah-simam": _seeded("dpfah", (32,), {"loss_weights": {"eta": 0.0, "zeta": 0.0}}),
    "dpfah-no-simam": _seeded("dpfah", (32,), {"attention": None}),
    "dpfah-simam-blocks": _seeded("dpfah", (32,), {"backbone_kwargs": {"placement": "blocks"}}),
    "dpfah-paper-objective": _seeded("dpfah", (32,), PAPER_OBJECTIVE["dpfah"]),
    # DAH Tables 3-5 on DAH's CPU network: CBAM or none (NoneA-DAH), DAH's loss or DPSH's
    "dah-recipe": _seeded("dah", (48,)),
    "dah-no-cbam": _seeded("dah", (48,), {"attention": None}),
    "dah-dpsh-loss": _seeded("dpsh", (48,), {"attention": "cbam", "loss_weights": {"eta": 0.1}}, settings_of="dah"),
    "dah-paper-objective": _seeded("dah", (48,), PAPER_OBJECTIVE["dah"]),
    # ADMTH Table 2 (where the branches split), SE on and off, Table 3 (one multi-length run vs four)
    "admth-recipe": _seeded("admth", BITS),
    "admth-split-1": _seeded("admth", BITS, {"branches": {"split_at": 1}}),
    "admth-no-se": _seeded("admth", BITS, {"attention": None}),
    "admth-paper-objective": _seeded("admth", BITS, PAPER_OBJECTIVE["admth"]),
    # ADMTH's Table 2 as the paper defines it, without attention: branches that share only the convolutions
    # (admth-no-se: each branch its own FC layers) against branches that share the FC layers too (split_at=2),
    # on cifar10 and on the multi-label mosaics
    "admth-split-fc": _seeded("admth", BITS, {"attention": None, "branches": {"split_at": 2}}),
    "admth-mosaic-no-se": _seeded("admth", BITS, {"attention": None, **MOSAICS}),
    "admth-mosaic-split-fc": _seeded("admth", BITS, {"attention": None, "branches": {"split_at": 2}, **MOSAICS}),
    **{f"admth-single-{k}": _seeded("admth", (k,)) for k in BITS},
    # ADMTH's figure sets the multi-length model against single-length models without the attention module
    **{f"admth-single-{k}-no-se": _seeded("admth", (k,), {"attention": None}) for k in BITS},
}


# The main rows the report trains at every seed of SEEDS: those whose one seed costs at most about an
# hour of training on a CPU with native bfloat16. DAH's rows (90 minutes each, dah-paper two hours) and
# itq-features (it hashes seed 0's DPSH network) have one seed.
SEEDED_MAIN_ROWS = ("dpfah", "dpfah-wide", "admth", "admth-mosaic", "dpsh", "dsh", "lsh", "itq")


def rows_for(profile: str) -> dict[str, Row]:
    """The rows ``reproduce`` runs for a profile: the demo's, the main table (one seed each), or, under
    ``cpu`` and ``paper``, the main table with SEEDED_MAIN_ROWS at every seed and the ablations."""
    if profile in ("demo", "quick"):
        return {"demo": DEMO_ROWS, "quick": MAIN_ROWS}[profile]
    main = {label: replace(row, seeds=SEEDS) if label in SEEDED_MAIN_ROWS else row for label, row in MAIN_ROWS.items()}
    return {**main, **ABLATION_ROWS}


def seed_key(label: str, seed: int) -> str:
    """The results key (and run folder) of one seed of a row: the label itself for seed 0."""
    return label if seed == 0 else f"{label}-seed{seed}"


def seed_keys(label: str, row: Row) -> list[str]:
    return [seed_key(label, s) for s in row.seeds]


def row_settings(label: str, profile: str, runs: Path, data_dir: str | None = None, seed: int = 0) -> dict:
    """The TrainConfig overrides of one seed of a row under a profile."""
    overrides = rows_for(profile)[label].settings(profile)
    settings = {k: v.format(runs=runs) if isinstance(v, str) else v for k, v in overrides.items()}
    if seed:
        settings["seed"] = seed
    if data_dir:
        settings["data_dir"] = data_dir
    return settings
