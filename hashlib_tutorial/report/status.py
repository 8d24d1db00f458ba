"""Which rows a results dictionary holds with the settings each row has now, and which it still lacks.

A (row, seed) is finished when ``results.json`` holds it with the configuration that
:func:`rows.row_settings` and the profile give it today; one trained with other settings is *stale*
(``reproduce`` trains it again, never silently reuses it). The report lists the rest under the table
of their protocol, with the command that trains them.
"""

from __future__ import annotations

from pathlib import Path

from ..training.config import resolve_config
from ..training.runs import changed_settings
from .rows import row_settings, rows_for, seed_key


def wanted_config(label: str, seed: int, profile: str, runs: Path = Path("runs"), data_dir: str | None = None) -> dict:
    """The configuration (as config.json stores it, with every code length) that seed ``seed`` of row ``label``
    has now under ``profile``."""
    row = rows_for(profile)[label]
    settings = row_settings(label, profile, runs, data_dir, seed)
    return {**resolve_config(row.method, row.bits, profile, **settings).as_saved(), "bits": list(row.bits)}


def stale(report: dict | None, wanted: dict) -> str | None:
    """None if ``report`` is a finished row trained with the ``wanted`` settings, else what differs."""
    if report is None or "config" not in report:
        return "not run"
    if set(report["results"]) != set(map(str, wanted["bits"])):
        return f"code lengths {sorted(report['results'])}"
    ignored = {"data_dir": None, "bits": None}
    where = lambda config: {"input_features": Path(config.get("input_features", "pixels")).name}  # noqa: E731 (a clone moves runs/)
    changed = changed_settings({**report["config"], **ignored, **where(report["config"])},
                               {**wanted, **ignored, **where(wanted)})
    return ", ".join(changed) or None


def unfinished(results: dict) -> dict[str, tuple[str, str, dict]]:
    """Every (row, seed) of the results' profile that ``results`` lacks or holds with other settings.

    Returns:
        {results key: (row label, why: "not run" or the settings that changed, the configuration wanted)},
        in the order ``reproduce`` trains them.
    """
    profile, rows, missing = results["profile"], results["rows"], {}
    for label, row in rows_for(profile).items():
        for seed in row.seeds:
            key, wanted = seed_key(label, seed), wanted_config(label, seed, profile)
            why = stale(rows.get(key), wanted)
            if why is not None:
                missing[key] = (label, why, wanted)
    return missing
