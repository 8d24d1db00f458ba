"""The report's figures, drawn from a results dictionary (``results.json``) with :mod:`plotting`.

    <profile>_pr_pn_<K>bits.png   PR over Hamming radius and precision@N of the main rows, per length
    <profile>_map_vs_bits.png     mAP against code length, one panel per paper: main rows as points,
                                  rows with seeds as their mean with a +-1 standard deviation bar
    <profile>_map_vs_seconds.png  mAP against training seconds, every deep row at every length
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ..plotting import plot_map_vs_bits, plot_pr_curves, plot_precision_at_n
from .papers import PAPER_MAP
from .rows import MAIN_ROWS
from .seeds import mean_sd, seed_reports, seed_values

PAPERS = ("dah", "dpfah", "admth")


def write_figures(results: dict, folder: Path) -> list[Path]:
    """Write every figure of the module's table into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    profile, rows, written = results["profile"], results["rows"], []
    main = {label: report["results"] for label, report in rows.items() if label in MAIN_ROWS}
    for bits in sorted({int(b) for by_bits in main.values() for b in by_bits}):
        at_bits = {label: by_bits[str(bits)] for label, by_bits in main.items() if str(bits) in by_bits}
        fig, (pr, pn) = plt.subplots(1, 2, figsize=(10, 4))
        plot_pr_curves({label: (r["pr_curve"]["precision"], r["pr_curve"]["recall"]) for label, r in at_bits.items()},
                       pr, title=f"PR over Hamming radius, {bits} bits")
        plot_precision_at_n({label: r["precision_at_n"] for label, r in at_bits.items()}, pn,
                            title=f"precision@N, {bits} bits")
        written.append(_save(fig, folder / f"{profile}_pr_pn_{bits}bits.png"))
    papers = [p for p in PAPERS if any(_paper_of(label, r) == p for label, r in rows.items())]
    if papers:
        fig, axes = plt.subplots(1, len(papers), figsize=(5 * len(papers), 6), squeeze=False)
        for paper, ax in zip(papers, axes[0]):
            labels = [label for label, r in rows.items() if _paper_of(label, r) == paper and "-seed" not in label]
            means = {label: {b: mean_sd(seed_values(rows, label, b))[0] for b in rows[label]["results"]}
                     for label in labels}
            spread = {label: {b: mean_sd(seed_values(rows, label, b))[1] for b in rows[label]["results"]}
                      for label in labels if len(seed_reports(rows, label)) > 1}
            reference = {f"paper ({PAPER_MAP[paper]['protocol']})": PAPER_MAP[paper]["mAP"]} if paper in PAPER_MAP else None
            plot_map_vs_bits(means, ax, reference=reference, spread=spread, title=f"{paper.upper()} ({profile})")
            ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # below: the lines stay visible
        written.append(_save(fig, folder / f"{profile}_map_vs_bits.png"))
    deep = {label: r for label, r in rows.items() if r.get("config", {}).get("epochs") and r["method"] not in ("lsh", "itq")}
    if deep:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for paper in dict.fromkeys(_paper_of(label, r) or r["method"] for label, r in deep.items()):
            points = [(res["train_seconds"], res["mAP"]) for label, r in deep.items()
                      if (_paper_of(label, r) or r["method"]) == paper for res in r["results"].values()]
            ax.scatter(*zip(*points), label=paper, s=18, alpha=0.7)
        ax.set(xscale="log", xlabel="training seconds (2-core CPU; one model, or all lengths of ADMTH's)",
               ylabel="mAP@ALL", ylim=(0, 1.02), title=f"mAP against training time ({profile})")
        ax.legend(fontsize=8)
        written.append(_save(fig, folder / f"{profile}_map_vs_seconds.png"))
    return written


def _paper_of(label: str, report: dict) -> str | None:
    """The paper a row belongs to: its label's first word when that names a paper."""
    first = label.split("-")[0]
    return first if first in PAPERS else None


def _save(fig, path: Path) -> Path:
    """Save and close ``fig``. The PNG holds no date, only matplotlib's version ("Software"), so the same
    results drawn by the same matplotlib give the same bytes (tests/test_bad_outputs.py checks the
    committed figures against their results.json)."""
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
