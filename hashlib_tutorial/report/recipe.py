"""What each change of the CPU recipe bought: REPRODUCTION.md's table, generated from ``results/recipe.json``.

Each row of that file is one training run on the ``quick`` protocol: its full configuration, its
validation mAP per evaluated epoch, and (when it ran to the end) its test mAP, seconds and provenance.
A row's command is written as the ``--set`` changes from the row it builds on, or from the method's
current quick profile for a first row, so every row reads as one change.

    python -m hashlib_tutorial.report.recipe        # rewrites the table in REPRODUCTION.md
"""

from __future__ import annotations

import json

from .. import PROJECT_ROOT
from ..training.registry import build_method
from ..training.runs import with_defaults
from .findings import format_map
from .tables import fill_report, machine

MARKERS = ("<!-- recipe table: generated from results/recipe.json by report.recipe -->", "<!-- end of recipe table -->")
_NOT_SETTINGS = {"method", "bits", "profile", "protocol", "eval_every", "seed", "data_dir", "device", "dataset"}


def _changes(config: dict, base: dict) -> str:
    """``--set`` flags for the fields where ``config`` differs from ``base``."""
    base = with_defaults(base)  # a row saved before a field existed had its default
    flags = [f"--set '{k}={json.dumps(v, separators=(',', ':'))}'" for k, v in config.items()
             if k not in _NOT_SETTINGS and base.get(k) != v]
    return " ".join(flags)


def _command(row: dict, rows: dict) -> str:
    config = row["config"]
    if row["base"]:
        base, start = rows[row["base"]]["config"], f"row {row['base']} + `"
    else:
        base = build_method(config["method"], config["bits"], "quick").config.as_saved()
        data = "" if config["dataset"] == "cifar10" else f" --dataset {config['dataset']}"
        if config["dataset"] in ("folder", "list"):  # the files fix the splits: no protocol
            data += f" --data-dir {config['data_dir']} --epochs {config['epochs']}"
        else:
            data += f" --protocol {config['protocol']}"
        start = (f"`python -m hashlib_tutorial train --method {config['method']} --bits "
                 f"{' '.join(map(str, config['bits']))}{data} ")
    return f"{start}{_changes(config, base)}".rstrip() + "`"


def _validation(row: dict) -> str:
    return "; ".join(f"{e}: {v:.3f}" for by_epoch in row["validation_mAP"].values() for e, v in by_epoch.items())


def recipe_table(recipe: dict) -> str:
    """One Markdown table per method: row, change, command, epochs, test mAP, train seconds, machine, validation mAP."""
    rows = {r["row"]: r for r in recipe["rows"]}
    parts = []
    for method in dict.fromkeys(r["method"] for r in recipe["rows"]):
        lines = [f"**{method.upper()}**", "",
                 "| row | change | command | epochs | mAP@ALL | train s | machine | validation mAP by epoch |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in (r for r in recipe["rows"] if r["method"] == method):
            results = r.get("results")
            if results:
                mAP = " / ".join(format_map(x) for x in results.values())
                if r["config"]["dataset"] != "cifar10":  # multi-label: chance is far from 0.1
                    mAP += f" (chance {next(iter(results.values()))['chance']:.3f})"
                seconds = f"{next(iter(results.values()))['train_seconds']:.0f}"
                trained_on, epochs = machine(r["provenance"]), r["config"]["epochs"]
            else:
                mAP, seconds, trained_on = f"stopped at epoch {r['stopped_at_epoch']}", "", ""
                epochs = r["config"]["epochs"]
            lines.append(f"| {r['row']} | {r['change']} | {_command(r, rows)} | {epochs} | {mAP} | {seconds} | "
                         f"{trained_on} | {_validation(r)} |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def main() -> None:
    recipe = json.loads((PROJECT_ROOT / "results" / "recipe.json").read_text())
    fill_report(PROJECT_ROOT / "REPRODUCTION.md", recipe, recipe_table(recipe), MARKERS)


if __name__ == "__main__":
    main()
