"""What ``reproduce`` trains: the rows of the report's tables, each a method, its code lengths and its overrides."""

from __future__ import annotations

from pathlib import Path

from ..training.config import profile_settings

BITS = (16, 32, 48, 64)


def _on_dah_backbone(profile: str) -> dict:
    """Overrides that put a method on DAH's backbone with DAH's training settings (the loss ablation)."""
    dah = profile_settings("dah", profile)
    keys = ("epochs", "batch_size", "optimizer", "lr", "lr_schedule", "image_size", "backbone", "backbone_kwargs",
            "attention", "augment", "precision", "channels_last")
    return {"protocol": dah.get("protocol", "quick"), **{k: dah[k] for k in keys if k in dah}}


# row label: (method, code lengths, overrides or a function of the profile). Rows run in this order,
# most important first (itq-features needs dpsh), so an interrupted run has the main table.
MAIN_ROWS = {
    "dpfah": ("dpfah", BITS, {}),
    "dah": ("dah", (12, 24, 36, 48), {}),
    "admth": ("admth", BITS, {}),
    "dpsh": ("dpsh", BITS, {}),
    "dsh": ("dsh", BITS, {}),
    "lsh": ("lsh", BITS, {}),
    "itq": ("itq", BITS, {}),
    "itq-features": ("itq", BITS, {"input_features": "{runs}/dpsh"}),
}
# make demo: one model of each paper (ADMTH's one model learns every length) and the non-deep baselines
# (DPSH, trained by the course notebooks, is left out to keep make demo within 20 minutes).
DEMO_ROWS = {
    "dpfah": ("dpfah", (32,), {}),
    "dah": ("dah", (48,), {}),
    "admth": ("admth", BITS, {}),
    "lsh": ("lsh", BITS, {}),
    "itq": ("itq", BITS, {}),
}
# Ablations (profiles cpu and paper), at one code length where a row would otherwise cost four runs.
ABLATION_ROWS = {
    "dpfah-backbone": ("dpfah", (32,), {"attention": None, "loss_weights": {"eta": 0.0, "zeta": 0.0}}),
    "dpfah-simam": ("dpfah", (32,), {"loss_weights": {"eta": 0.0, "zeta": 0.0}}),
    "dpfah-no-simam": ("dpfah", (32,), {"attention": None}),
    "dpfah-simam-blocks": ("dpfah", (32,), {"backbone_kwargs": {"placement": "blocks"}}),
    "dah-no-cbam": ("dah", (48,), {"attention": None}),
    "dah-dpsh-loss": ("dpsh", (48,), _on_dah_backbone),
    **{f"admth-single-{k}": ("admth", (k,), {}) for k in BITS},
}


def rows_for(profile: str) -> dict:
    """The rows ``reproduce`` runs for a profile: the demo's, the main table, or it and the ablations."""
    return {"demo": DEMO_ROWS, "quick": MAIN_ROWS}.get(profile, {**MAIN_ROWS, **ABLATION_ROWS})


def row_settings(label: str, profile: str, runs: Path, data_dir: str | None = None) -> dict:
    """The TrainConfig overrides of one row under a profile."""
    _, _, overrides = rows_for(profile)[label]
    overrides = overrides(profile) if callable(overrides) else overrides
    settings = {k: v.format(runs=runs) if isinstance(v, str) else v for k, v in overrides.items()}
    if data_dir:
        settings["data_dir"] = data_dir
    return settings
