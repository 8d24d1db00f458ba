"""A row's seeds in a results dictionary: mean, spread, and whether two rows differ by more than it.

Seed s > 0 of row ``label`` is stored as ``label-seed{s}`` (see :func:`rows.seed_key`). With three
seeds the spread is rough, so the report calls a difference only when the two means are further apart
than the sum of the two standard deviations; otherwise it says "no measurable difference".
"""

from __future__ import annotations

import re

import numpy as np


def seed_reports(rows: dict, label: str) -> list[dict]:
    """Every seed of row ``label`` present in ``rows`` (seed 0 first)."""
    pattern = re.compile(rf"{re.escape(label)}(-seed\d+)?")
    return [report for key, report in rows.items() if pattern.fullmatch(key)]


def seed_values(rows: dict, label: str, bits: str, field: str = "mAP") -> list[float]:
    """``field`` of every seed of row ``label`` at ``bits``."""
    return [r["results"][bits][field] for r in seed_reports(rows, label) if bits in r.get("results", {})]


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def format_mean_sd(values: list[float], digits: int = 3) -> str:
    """"0.512 +- 0.008 (3 seeds)", or "not run"."""
    if not values:
        return "not run"
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f} +- {sd:.{digits}f} ({len(values)} seed{'s' * (len(values) > 1)})"


def verdict(values: list[float], baseline: list[float]) -> str:
    """How ``values`` compare with ``baseline``: "+0.031 (measurable)" when the means differ by more than
    the sum of the two standard deviations, "no measurable difference (+0.004)" otherwise."""
    if len(values) < 2 or len(baseline) < 2:
        return "fewer than 2 seeds" if values and baseline else ""
    (mean, sd), (base, base_sd) = mean_sd(values), mean_sd(baseline)
    difference = mean - base
    if abs(difference) > sd + base_sd:
        return f"{difference:+.3f} (measurable)"
    return f"no measurable difference ({difference:+.3f})"
