"""The report's Markdown tables, generated from a results dictionary (``results.json``), and the README
and REPRODUCTION.md blocks they fill."""

from __future__ import annotations

from pathlib import Path

from ..training.registry import method_class
from .ablations import ablation_tables
from .findings import findings, format_map, network
from .papers import PAPER_DAH_ENCODE_US, PAPER_MAP
from .rows import MAIN_ROWS


def _epochs(report: dict) -> str:
    deep = method_class(report["method"]).deep
    return str(report.get("config", {}).get("epochs", "")) if deep else "-"  # lsh, itq: no training epochs


def _data(report: dict) -> str:
    """The row's data and protocol; the mosaics say what they stand in for."""
    dataset = report.get("dataset", "cifar10")
    if dataset == "cifar10-mosaic":
        classes = report.get("config", {}).get("mosaic_classes")
        each = f", {classes} classes per mosaic" if classes else ""
        return f"cifar10-mosaic {report['protocol']}{each} (multi-label stand-in for NUS-WIDE / MS-COCO)"
    return report["protocol"] if dataset == "cifar10" else f"{dataset} {report['protocol']}"


def _paper_row(label: str, report: dict) -> dict | None:
    """The paper's numbers for a main row of the paper's own method on CIFAR-10 (not the mosaics)."""
    same = label.split("-")[0] == report["method"] and report.get("dataset", "cifar10") == "cifar10"
    return PAPER_MAP.get(report["method"]) if same else None


def machine(provenance: dict) -> str:
    """What trained a row: "cpu: AMD EPYC (AVX2), float32, 2 threads"; "hardware not recorded" for the rows
    trained before provenance held it (their seconds compare only with rows of the same machine)."""
    hardware, threads = provenance.get("hardware"), provenance["threads"]
    threads = f"{threads} thread{'' if threads == 1 else 's'}"
    if hardware is None:
        return f"{provenance['device']}, {threads}, hardware not recorded"
    parts = [f"{provenance['device']}: {hardware['cpu']} ({hardware['cpu_capability']})", hardware.get("gpu"),
             provenance.get("autocast"), threads]
    return ", ".join(part for part in parts if part)


def _machines(rows: dict) -> str:
    """Each machine that trained a main row, with its rows when there are several machines."""
    by_machine: dict[str, list[str]] = {}
    for label, report in rows.items():
        if label in MAIN_ROWS and "provenance" in report:
            by_machine.setdefault(machine(report["provenance"]), []).append(label)
    if len(by_machine) <= 1:
        return next(iter(by_machine), "(no main row yet)")
    return "; ".join(f"{name} (rows {', '.join(labels)})" for name, labels in by_machine.items())


def markdown_table(results: dict) -> str:
    """mAP per main row and code length, with the papers' numbers (and their protocols) beside ours."""
    trained = [r["provenance"] for r in results["rows"].values() if "provenance" in r]
    commits = ", ".join(sorted({p["git_commit"] for p in trained}))
    lines = [f"mAP@ALL, profile `{results['profile']}`; trained on {_machines(results['rows'])} at commit {commits}", "",
             "| row | data and protocol | network | epochs | bits | mAP (ours) | tie-aware | chance | P@r<=2 | P@1000 | "
             "train s | paper mAP (its protocol) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, report in results["rows"].items():
        if label not in MAIN_ROWS:
            continue
        paper = _paper_row(label, report)
        for bits, r in report["results"].items():
            theirs = f"{paper['mAP'][bits]:.3f} ({paper['protocol']})" if paper and bits in paper["mAP"] else ""
            chance = "" if r.get("chance") is None else f"{r['chance']:.3f}"
            lines.append(f"| {label} | {_data(report)} | {network(report)} | {_epochs(report)} | {bits} | {format_map(r)} | "
                         f"{r['mAP_tie_aware']:.3f} | {chance} | {r['precision_radius2']:.3f} | {_p1000(r)} | "
                         f"{r.get('train_seconds', 0):.0f} | {theirs} |")
    return "\n".join(lines) + "\n"


def _p1000(r: dict) -> str:
    value = r.get("precision_at_n", {}).get("1000")
    return "" if value is None else f"{value:.3f}"


DAH_TABLE2 = ("dah", "dah-12", "dah-24", "dah-36", "dah-paper")  # the rows of DAH on its own protocol


def report_tables(results: dict) -> str:
    """Every table of REPRODUCTION.md, generated from results.json (so the two cannot disagree)."""
    rows = results["rows"]
    minutes = sum(r["provenance"]["seconds"] for r in rows.values() if "provenance" in r) / 60
    parts = ["## Main table\n", markdown_table(results),
             f"\n{len(rows)} rows (seeds counted); the invocations that finished them took {minutes:.0f} min in all "
             "(the sum of each row's `provenance.seconds`; a row resumed after an interruption counts only its "
             "last part).\n", "\n## Findings\n\n", findings(results)]
    dah_rows = [(label, b, r) for label in DAH_TABLE2 if label in rows
                for b, r in rows[label]["results"].items()]
    if dah_rows:
        lines = ["| bits | row | network | epochs | train s | mAP | paper mAP | P@1000 | "
                 f"encode us/img (paper: {PAPER_DAH_ENCODE_US:,}) | bit balance: mean abs(fraction of ones - 1/2) |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for label, b, r in sorted(dah_rows, key=lambda row: int(row[1])):
            paper = PAPER_MAP["dah"]["mAP"].get(b)
            lines.append(f"| {b} | {label} | {network(rows[label])} | {_epochs(rows[label])} | "
                         f"{r.get('train_seconds', 0):.0f} | {format_map(r)} | {'' if paper is None else f'{paper:.3f}'} | "
                         f"{_p1000(r)} | {r['encode_us_per_image']:.0f} | {r['bit_balance']['mean_abs_deviation']:.3f} |")
        parts += ["\n## DAH on its own protocol (Table 2)\n", "\n".join(lines) + "\n"]
    parts.append(ablation_tables(rows))
    return "".join(parts)


BEGIN, END = "<!-- tables: generated from results/cpu/results.json by reproduce -->", "<!-- end of tables -->"
DEMO_MARKERS = ("<!-- demo table: generated from results/demo/results.json by reproduce -->", "<!-- end of demo table -->")


def fill_report(path: Path, results: dict, tables: str | None = None, markers: tuple[str, str] = (BEGIN, END)) -> None:
    """Replace the block between the markers in ``path`` with ``tables`` (default: :func:`report_tables`)."""
    begin, end = markers
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{path} has no {begin!r} ... {end!r} block to fill")
    head, rest = text.split(begin, 1)
    tables = report_tables(results) if tables is None else tables
    path.write_text(f"{head}{begin}\n\n{tables}\n{end}{rest.split(end, 1)[1]}")


def headline_table(results: dict) -> str:
    """mAP@ALL of the main rows, one line per row and one column per code length (the README's table)."""
    main = {label: r for label, r in results["rows"].items() if label in MAIN_ROWS}
    bits = sorted({int(b) for r in main.values() for b in r["results"]})
    lines = ["| row | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---" * (len(bits) + 1) + "|"]
    for label, report in main.items():
        cells = [f"{report['results'][str(b)]['mAP']:.3f}" if str(b) in report["results"] else "" for b in bits]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for method, paper in PAPER_MAP.items():
        if method in main:
            cells = [f"{paper['mAP'][str(b)]:.3f}" if str(b) in paper["mAP"] else "" for b in bits]
            lines.append(f"| {method}, paper ({paper['protocol']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
