"""Every CPU-hour behind the report, per machine: the report's rows, the recipe's exploration, and the
runs the report has since replaced.

Three sources, each read where it is kept, nothing cached:

    report      the rows of the results dictionary: each row's ``provenance.seconds``
    superseded  every version of a row ever committed in ``results/cpu/results.json`` (git history) whose
                provenance is not the row's current one, each counted once by (row, commit, seconds)
    recipe      every row of ``results/recipe.json``: the exploration that chose the CPU recipe

``provenance.seconds`` is the wall time of the invocation that finished a row; a row resumed after an
interruption counts only that last part, so where its models' ``train_seconds`` add up to more, the
larger is counted and the table says which rows. A recipe row that records the same run as a report row
(same commit and seconds) is counted once, as a report run. Machines are told apart by processor and
vector ISA; runs from before the provenance recorded them are "hardware not recorded".
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .. import PROJECT_ROOT
from ..training.registry import METHODS, method_class

RESULTS = "results/cpu/results.json"
SOURCES = ("report", "superseded", "recipe")


def hardware(provenance: dict) -> str:
    """The machine of a run: "AMD EPYC (AVX2)", or "hardware not recorded"."""
    found = provenance.get("hardware")
    return f"{found['cpu']} ({found['cpu_capability']})" if found else "hardware not recorded"


def training_seconds(report: dict) -> float:
    """The seconds its models trained: their sum, or the one model's for a multi-length method (ADMTH)."""
    seconds = [r.get("train_seconds", 0.0) for r in report.get("results", {}).values()] or [0.0]
    multi = report.get("method") in METHODS and method_class(report["method"]).multi_length
    return max(seconds) if multi else sum(seconds)


def run_seconds(report: dict) -> tuple[float, bool]:
    """The seconds a run took, and whether its models' training seconds exceed its invocation's (resumed)."""
    invocation, trained = report.get("provenance", {}).get("seconds") or 0.0, training_seconds(report)
    return max(invocation, trained), trained > invocation


def committed_versions(path: str = RESULTS, root: Path = PROJECT_ROOT) -> list[dict] | None:
    """Every version of ``path`` in the git history (newest first, each blob once); None without git."""
    try:
        log = subprocess.run(["git", "log", "--format=", "--raw", "--no-abbrev", "--", path], cwd=root,
                             capture_output=True, text=True, check=True).stdout
        blobs = [line.split()[3] for line in log.splitlines() if line.startswith(":")]
        blobs = [b for b in dict.fromkeys(blobs) if b.strip("0")]  # a deletion's blob is all zeros
        out = subprocess.run(["git", "cat-file", "--batch"], cwd=root, input="".join(f"{b}\n" for b in blobs).encode(),
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    versions, at = [], 0
    while at < len(out):  # each object: "<sha> blob <size>\n<content>\n"
        newline = out.index(b"\n", at)
        size = int(out[at:newline].split()[2])
        versions.append(json.loads(out[newline + 1:newline + 1 + size]))
        at = newline + 2 + size
    return versions


def runs(rows: dict, recipe_rows: list[dict], versions: list[dict]) -> list[dict]:
    """Every run once: {"source", "name", "machine", "seconds", "resumed"}; recipe rows with no seconds
    (stopped early) have seconds None."""
    def identity(provenance: dict) -> tuple:
        return provenance.get("git_commit"), provenance.get("seconds")

    found, seen = [], {}  # (row, commit, seconds) -> row
    for source, items in (("report", rows.items()),
                          ("superseded", ((k, r) for v in versions for k, r in v.get("rows", {}).items()))):
        for key, report in items:  # a superseded version equal to the current row's is that row
            provenance = report.get("provenance", {})
            if (key, *identity(provenance)) in seen:
                continue
            seen[(key, *identity(provenance))] = key
            seconds, resumed = run_seconds(report)
            found.append({"source": source, "name": key, "machine": hardware(provenance), "seconds": seconds,
                          "resumed": resumed})
    reported = {(commit, seconds): key for key, commit, seconds in seen}
    for row in recipe_rows:
        provenance = row.get("provenance")
        twin = reported.get(identity(provenance)) if provenance else None
        found.append({"source": "recipe", "name": f"recipe {row['row']}", "machine": hardware(provenance or {}),
                      "seconds": run_seconds(row)[0] if provenance else None, "resumed": False, "twin": twin})
    return found


def compute_table(rows: dict, recipe_rows: list[dict], versions: list[dict] | None) -> str:
    """The report's compute section: hours per machine and source, and what each count includes."""
    found = runs(rows, recipe_rows, versions or [])
    counted = [r for r in found if r["seconds"] is not None and not r.get("twin")]
    machines = list(dict.fromkeys(r["machine"] for r in counted))
    lines = ["| machine | report rows (current) | superseded report runs | exploration (results/recipe.json) | total |",
             "|---|---|---|---|---|"]

    def cell(selected: list[dict]) -> str:
        count = f"{len(selected)} run{'s' * (len(selected) > 1)}"
        return f"{sum(r['seconds'] for r in selected) / 3600:.1f} h ({count})" if selected else "-"
    for machine in machines + ["all machines"]:
        mine = [r for r in counted if machine in (r["machine"], "all machines")]
        lines.append(f"| {machine} | " + " | ".join(cell([r for r in mine if r["source"] == s]) for s in SOURCES)
                     + f" | {cell(mine)} |")
    notes = []
    if versions is None:
        notes.append("git history not available: superseded runs are not counted")
    if resumed := [r["name"] + (" (superseded)" if r["source"] == "superseded" else "") for r in counted if r["resumed"]]:
        notes.append(f"runs resumed after an interruption, counted by their models' training seconds (larger than "
                     f"the last invocation's): {', '.join(sorted(set(resumed)))}")
    if twins := [r for r in found if r.get("twin")]:
        notes.append("recipe rows that record a report run (same commit and seconds), counted once as that run: "
                     + ", ".join(f"{r['name']} ({r['twin']})" for r in twins))
    if stopped := [r["name"] for r in found if r["seconds"] is None]:
        notes.append(f"recipe rows stopped early, with no seconds recorded (not counted): {', '.join(stopped)}")
    return "\n".join(lines) + "\n" + "".join(f"\n- {note}" for note in notes) + ("\n" if notes else "")


def report_compute(rows: dict) -> str:
    """:func:`compute_table` for ``rows``, with the committed recipe and the git history of :data:`RESULTS`."""
    path = PROJECT_ROOT / "results" / "recipe.json"
    recipe_rows = json.loads(path.read_text())["rows"] if path.exists() else []
    return compute_table(rows, recipe_rows, committed_versions())
