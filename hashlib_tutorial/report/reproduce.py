"""``python -m hashlib_tutorial reproduce --profile quick|cpu|paper``: every method at every code length.

Writes ``results/<profile>/runs/<row>/`` (one resumable run per row of the table),
``results/<profile>/results.json`` (every number with its provenance, rewritten after each row),
``results/<profile>/results.md`` (the report's tables, generated from results.json) and PR /
precision@N / mAP-vs-bits figures into ``figures/``. An interrupted reproduce continues where it
stopped: finished rows are read back, the others resume from their last epoch.

Profiles (see :data:`training.config.PROFILES`): ``demo`` (``make demo``: one model of each paper and the
baselines, at most 20 minutes on 2 cores), ``quick`` (the main rows, every length), ``cpu`` (the
reproduction report: the ``cifar10`` protocol, the main rows and the ablations), ``paper`` (the
papers' settings, for a GPU).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt

from ..plotting import plot_map_vs_bits, plot_pr_curves, plot_precision_at_n
from ..training.config import PROFILES
from ..training.runs import git_commit, provenance, resolve_device, save_json
from ..training.train import train
from .papers import PAPER_MAP
from .rows import MAIN_ROWS, row_settings, rows_for
from .tables import DEMO_MARKERS, fill_report, headline_table, markdown_table, report_tables

ROOT = Path(__file__).resolve().parents[2]


def reproduce(profile: str, out_root: Path = ROOT / "results", methods: list[str] | None = None,
              data_dir: str | None = None, command: str = "") -> dict:
    """Train and evaluate every row (or the rows named in ``methods``), then write results and figures."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    rows_wanted = rows_for(profile)
    unknown = set(methods or []) - set(rows_wanted)
    if unknown:
        raise ValueError(f"unknown rows {sorted(unknown)} for profile {profile}; choose from {list(rows_wanted)}")
    out, started = Path(out_root) / profile, time.time()
    git_commit()  # the code as it is now, when the run starts (cached for the provenance)
    runs, results_path = out / "runs", out / "results.json"
    rows = json.loads(results_path.read_text())["rows"] if results_path.exists() else {}
    for label, (method, bits, _) in rows_wanted.items():
        if methods and label not in methods:
            continue
        run_dir = runs / label
        done = run_dir / "metrics.json"
        if done.exists() and set(json.loads(done.read_text())["results"]) == set(map(str, bits)):
            rows[label] = json.loads(done.read_text())  # finished earlier
        else:
            print(f"== {label}: {method} at {', '.join(map(str, bits))} bits ({profile} profile)", flush=True)
            rows[label] = train(method, bits, run_dir, profile, resume=True, command=command,
                                **row_settings(label, profile, runs, data_dir))
            results = _results(profile, rows, command, started)
            save_json(results_path, results)  # after every row: an interruption keeps what is done
    results = _results(profile, {k: rows[k] for k in rows_wanted if k in rows}, command, started)
    save_json(results_path, results)
    (out / "results.md").write_text(report_tables(results))
    if Path(out_root).resolve() == (ROOT / "results").resolve():
        if profile == "cpu":
            fill_report(ROOT / "REPRODUCTION.md", results)
            fill_report(ROOT / "README.md", results, headline_table(results))
        if profile == "demo":
            fill_report(ROOT / "README.md", results, headline_table(results), DEMO_MARKERS)
    write_figures(results, ROOT / "figures")
    print(markdown_table(results))
    return results


def _results(profile: str, rows: dict, command: str, started: float) -> dict:
    return {
        "profile": profile, "rows": rows, "paper": PAPER_MAP,
        "provenance": provenance(command, resolve_device(), started),
    }


def write_figures(results: dict, folder: Path) -> list[Path]:
    """PR and precision@N curves per code length, and mAP against code length per main row (via :mod:`plotting`)."""
    folder.mkdir(parents=True, exist_ok=True)
    profile, written = results["profile"], []
    main = {label: report["results"] for label, report in results["rows"].items() if label in MAIN_ROWS}
    for bits in sorted({int(b) for by_bits in main.values() for b in by_bits}):
        at_bits = {label: by_bits[str(bits)] for label, by_bits in main.items() if str(bits) in by_bits}
        fig, (pr, pn) = plt.subplots(1, 2, figsize=(10, 4))
        plot_pr_curves({label: (r["pr_curve"]["precision"], r["pr_curve"]["recall"]) for label, r in at_bits.items()},
                       pr, title=f"PR over Hamming radius, {bits} bits")
        plot_precision_at_n({label: r["precision_at_n"] for label, r in at_bits.items()}, pn,
                            title=f"precision@N, {bits} bits")
        written.append(_save(fig, folder / f"{profile}_pr_pn_{bits}bits.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_map_vs_bits({label: {b: r["mAP"] for b, r in by_bits.items()} for label, by_bits in main.items()}, ax,
                     title=f"mAP against code length ({profile})")
    written.append(_save(fig, folder / f"{profile}_map_vs_bits.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
