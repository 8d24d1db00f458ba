"""The report's figures, one protocol each, drawn from a results dictionary (``results.json``) with :mod:`plotting`.

    <profile>_<protocol>_pr_pn_<K>bits.png   PR over Hamming radius and precision@N of the protocol's main rows
    <profile>_<protocol>_map_vs_bits.png     mAP against code length, one panel per paper: its rows on the
                                             protocol as points, rows with seeds as their mean with a +-1
                                             standard deviation bar; the paper's numbers only on its own protocol
    <profile>_<protocol>_map_vs_seconds.png  mAP against training seconds, every deep row of the protocol at
                                             every length, one marker shape per machine

``<protocol>`` is :func:`departures.group_name` (``cifar10-2``, ``cifar10``, ``cifar10-mosaic``, ``quick``).
:func:`figure_specs` names every figure and writes its caption from the results alone, so the report's
figures block (:func:`figures_block`) and the files cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ..plotting import plot_map_vs_bits, plot_pr_curves, plot_precision_at_n
from ..training.registry import method_class
from .compute import hardware
from .departures import group, group_name
from .papers import PAPER_MAP
from .rows import MAIN_ROWS
from .seeds import mean_sd, seed_reports, seed_values

PAPERS = ("dah", "dpfah", "admth")
MARKERS = "osD^vP*X"  # one per machine on a time axis
FIGURE_MARKERS = ("<!-- figures: generated from results/cpu/results.json by reproduce -->", "<!-- end of figures -->")


def run_machine(report: dict) -> str:
    """A row's machine for a figure: processor and vector ISA, with the autocast dtype when recorded."""
    provenance = report.get("provenance", {})
    return ", ".join(part for part in (hardware(provenance), provenance.get("autocast")) if part)


def _paper_of(label: str, report: dict) -> str | None:
    """The paper a row belongs to: its label's first word when that names a paper."""
    first = label.split("-")[0]
    return first if first in PAPERS else None


def _machines(rows: dict, labels: list[str]) -> str:
    return "; ".join(dict.fromkeys(run_machine(rows[label]) for label in labels))


def figure_specs(results: dict) -> list[dict]:
    """Every figure of the module's table: {"name", "caption", "kind", "labels", "bits"}, in the order drawn."""
    profile, rows, specs = results["profile"], results["rows"], []
    for where in dict.fromkeys(group(r) for r in rows.values()):
        name, on = group_name(*where), [label for label, r in rows.items() if group(r) == where]
        main = [label for label in on if label in MAIN_ROWS]
        for bits in sorted({int(b) for label in main for b in rows[label]["results"]}):
            at = [label for label in main if str(bits) in rows[label]["results"]]
            specs.append({"name": f"{profile}_{name}_pr_pn_{bits}bits.png", "kind": "pr_pn", "labels": at, "bits": bits,
                          "caption": f"precision against recall over the Hamming radius (left) and precision of the "
                                     f"top N (right) at {bits} bits on `{name}`; rows {', '.join(at)}; machine: "
                                     f"{_machines(rows, at)}."})
        papered = [label for label in on if _paper_of(label, rows[label]) and "-seed" not in label]
        if papered:
            papers = list(dict.fromkeys(_paper_of(label, rows[label]) for label in papered))
            reference = [p for p in papers if _reference(p, where)]
            specs.append({"name": f"{profile}_{name}_map_vs_bits.png", "kind": "map_vs_bits", "labels": papered, "bits": None,
                          "caption": f"mAP@ALL against code length on `{name}`, one panel per paper "
                                     f"({', '.join(p.upper() for p in papers)}); rows {', '.join(papered)} (a row with "
                                     f"seeds: their mean, +-1 standard deviation); "
                                     + (f"the papers' numbers on their own protocol: {', '.join(p.upper() for p in reference)}; "
                                        if reference else "no paper's number (none is on this protocol); ")
                                     + f"machine: {_machines(rows, papered)}."})
        deep = [label for label in on if method_class(rows[label]["method"]).deep and rows[label].get("config", {}).get("epochs")]
        if deep:
            machines = list(dict.fromkeys(run_machine(rows[label]) for label in deep))
            specs.append({"name": f"{profile}_{name}_map_vs_seconds.png", "kind": "map_vs_seconds", "labels": deep, "bits": None,
                          "caption": f"mAP@ALL against training seconds on `{name}`, every deep row at every length "
                                     f"(a multi-length ADMTH model: the same seconds at each length); one marker per "
                                     f"machine: " + "; ".join(f"{m} ({MARKERS[i % len(MARKERS)]!r})" for i, m in enumerate(machines))
                                     + ". Seconds compare only within one machine."})
    return specs


def _reference(paper: str, where: tuple[str, str]) -> bool:
    """Whether the paper's own numbers were measured on protocol ``where``."""
    return paper in PAPER_MAP and where == ("cifar10", PAPER_MAP[paper]["protocol"].split(",")[0])


def write_figures(results: dict, folder: Path) -> list[Path]:
    """Write every figure of :func:`figure_specs` into ``folder`` and remove the profile's figures that the
    results no longer draw (``<profile>_*.png`` of an earlier set of rows); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, written, specs = results["rows"], [], figure_specs(results)
    for old in set(folder.glob(f"{results['profile']}_*.png")) - {folder / spec["name"] for spec in specs}:
        old.unlink()
    for spec in specs:
        draw = {"pr_pn": _pr_pn, "map_vs_bits": _map_vs_bits, "map_vs_seconds": _map_vs_seconds}[spec["kind"]]
        written.append(_save(draw(rows, spec), folder / spec["name"]))
    return written


def figures_block(results: dict, folder: str = "figures") -> str:
    """Markdown embedding every figure with its caption (REPRODUCTION.md's figures block)."""
    return "\n".join(f"![Figure {i}]({folder}/{spec['name']})\n\n*Figure {i}: {spec['caption']}*\n"
                     for i, spec in enumerate(figure_specs(results), start=1))


def _pr_pn(rows: dict, spec: dict):
    at, bits, name = {label: rows[label]["results"][str(spec["bits"])] for label in spec["labels"]}, spec["bits"], spec["name"]
    fig, (pr, pn) = plt.subplots(1, 2, figsize=(10, 4))
    protocol = group_name(*group(rows[spec["labels"][0]]))
    plot_pr_curves({label: (r["pr_curve"]["precision"], r["pr_curve"]["recall"]) for label, r in at.items()},
                   pr, title=f"PR over Hamming radius, {bits} bits, {protocol}")
    plot_precision_at_n({label: r["precision_at_n"] for label, r in at.items()}, pn,
                        title=f"precision@N, {bits} bits, {protocol}")
    return fig


def _map_vs_bits(rows: dict, spec: dict):
    where = group(rows[spec["labels"][0]])
    papers = list(dict.fromkeys(_paper_of(label, rows[label]) for label in spec["labels"]))
    fig, axes = plt.subplots(1, len(papers), figsize=(5 * len(papers), 6), squeeze=False)
    for paper, ax in zip(papers, axes[0]):
        labels = [label for label in spec["labels"] if _paper_of(label, rows[label]) == paper]
        means = {label: {b: mean_sd(seed_values(rows, label, b))[0] for b in rows[label]["results"]} for label in labels}
        spread = {label: {b: mean_sd(seed_values(rows, label, b))[1] for b in rows[label]["results"]}
                  for label in labels if len(seed_reports(rows, label)) > 1}
        reference = {f"paper ({PAPER_MAP[paper]['protocol']})": PAPER_MAP[paper]["mAP"]} if _reference(paper, where) else None
        plot_map_vs_bits(means, ax, reference=reference, spread=spread, title=f"{paper.upper()} on {group_name(*where)}")
        ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # below: the lines stay visible
    return fig


def _map_vs_seconds(rows: dict, spec: dict):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    machines = list(dict.fromkeys(run_machine(rows[label]) for label in spec["labels"]))
    kinds = list(dict.fromkeys(_paper_of(label, rows[label]) or rows[label]["method"] for label in spec["labels"]))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, kind in enumerate(kinds):
        for m, name in enumerate(machines):
            points = [(res["train_seconds"], res["mAP"]) for label in spec["labels"]
                      if (_paper_of(label, rows[label]) or rows[label]["method"]) == kind and run_machine(rows[label]) == name
                      for res in rows[label]["results"].values()]
            if points:
                ax.scatter(*zip(*points), label=f"{kind}, {name}", s=22, alpha=0.75, color=colours[k % len(colours)],
                           marker=MARKERS[m % len(MARKERS)])
    ax.set(xscale="log", xlabel="training seconds (one model, or all lengths of ADMTH's)", ylabel="mAP@ALL",
           ylim=(0, 1.02), title=f"mAP against training time, {group_name(*group(rows[spec['labels'][0]]))}")
    ax.legend(fontsize=7)
    return fig


def _save(fig, path: Path) -> Path:
    """Save and close ``fig``. The PNG holds no date, only matplotlib's version ("Software"), so the same
    results drawn by the same matplotlib give the same bytes (tests/test_bad_outputs.py checks the
    committed figures against their results.json)."""
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
