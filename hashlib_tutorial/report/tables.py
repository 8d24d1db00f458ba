"""The report's Markdown tables, generated from a results dictionary (``results.json``), and the README
and REPRODUCTION.md blocks they fill."""

from __future__ import annotations

from pathlib import Path

from ..training.registry import method_class
from .papers import PAPER_ADMTH_SECONDS, PAPER_DAH_ENCODE_US, PAPER_MAP
from .rows import BITS, MAIN_ROWS


def _epochs(report: dict) -> str:
    deep = method_class(report["method"]).deep
    return str(report.get("config", {}).get("epochs", "")) if deep else "-"  # lsh, itq: no training epochs


def markdown_table(results: dict) -> str:
    """mAP per main row and code length, with the papers' numbers (and their protocols) beside ours."""
    trained = [r["provenance"] for r in results["rows"].values() if "provenance" in r]
    distinct = lambda key: ", ".join(sorted({str(p[key]) for p in trained}))  # noqa: E731
    lines = [f"mAP@ALL on CIFAR-10, profile `{results['profile']}`; trained on {distinct('device')} with "
             f"{distinct('threads')} threads at commit {distinct('git_commit')}", "",
             "| row | protocol | epochs | bits | mAP (ours) | tie-aware | P@r<=2 | P@1000 | paper mAP (its protocol) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, report in results["rows"].items():
        if label not in MAIN_ROWS:
            continue
        paper = PAPER_MAP.get(report["method"]) if label == report["method"] else None
        for bits, r in report["results"].items():
            theirs = f"{paper['mAP'][bits]:.3f} ({paper['protocol']})" if paper and bits in paper["mAP"] else ""
            lines.append(f"| {label} | {report['protocol']} | {_epochs(report)} | {bits} | {r['mAP']:.3f} | "
                         f"{r['mAP_tie_aware']:.3f} | {r['precision_radius2']:.3f} | {_p1000(r)} | {theirs} |")
    return "\n".join(lines) + "\n"


def _p1000(r: dict) -> str:
    value = r.get("precision_at_n", {}).get("1000")
    return "" if value is None else f"{value:.3f}"


def _tie_aware(r: dict) -> str:
    return f"{r['mAP_tie_aware']:.3f}"


def _cell(results: dict, label: str, bits: str, value=lambda r: f"{r['mAP']:.3f}") -> str:
    """``value`` of one row at one length, or "not run"."""
    r = results["rows"].get(label, {}).get("results", {}).get(bits)
    return "not run" if r is None else value(r)


def report_tables(results: dict) -> str:
    """Every table of REPRODUCTION.md, generated from results.json (so the two cannot disagree)."""
    rows = results["rows"]
    minutes = sum(r["provenance"]["seconds"] for r in rows.values() if "provenance" in r) / 60
    parts = ["## Main table\n", markdown_table(results),
             f"\n{len(rows)} rows; the invocations that finished them took {minutes:.0f} min in all (the sum of "
             "each row's `provenance.seconds`; a row resumed after an interruption counts only its last part).\n"]
    dah_bits = list(rows.get("dah", {}).get("results", {}))
    if dah_bits:
        lines = ["| bits | mAP | paper mAP | NoneA-DAH (no CBAM) | DPSH loss, same backbone | P@1000 | "
                 f"encode us/img (paper: {PAPER_DAH_ENCODE_US:,}) | bit balance: mean abs(fraction of ones - 1/2) |",
                 "|---|---|---|---|---|---|---|---|"]
        for b in dah_bits:
            r = rows["dah"]["results"][b]
            paper = PAPER_MAP["dah"]["mAP"].get(b)
            lines.append(f"| {b} | {r['mAP']:.3f} | {'' if paper is None else f'{paper:.3f}'} | "
                         f"{_cell(results, 'dah-no-cbam', b)} | {_cell(results, 'dah-dpsh-loss', b)} | {_p1000(r)} | "
                         f"{r['encode_us_per_image']:.0f} | {r['bit_balance']['mean_abs_deviation']:.3f} |")
        parts += ["\n## DAH (Tables 2-5)\n", "\n".join(lines) + "\n"]
    ablation = [("ResNet-18 + DPSH likelihood (backbone)", "dpfah-backbone"), ("+ SimAM at the stem", "dpfah-simam"),
                ("+ quantisation and class losses (DPFAH)", "dpfah"), ("DPFAH without SimAM", "dpfah-no-simam"),
                ("DPFAH with SimAM in every block", "dpfah-simam-blocks")]
    if any(label in rows for _, label in ablation[:2]):
        lines = ["| 32 bits | row | mAP | tie-aware | P@1000 |", "|---|---|---|---|---|"]
        for name, label in ablation:
            lines.append(f"| {name} | {label} | {_cell(results, label, '32')} | "
                         f"{_cell(results, label, '32', _tie_aware)} | "
                         f"{_cell(results, label, '32', _p1000)} |")
        parts += ["\n## DPFAH ablation (Table 5)\n", "\n".join(lines) + "\n"]
    if "admth" in rows:
        singles = {b: rows.get(f"admth-single-{b}") for b in map(str, BITS)}
        lines = ["| bits | multi-length | single-length |", "|---|---|---|"]
        for b in map(str, BITS):
            lines.append(f"| {b} | {_cell(results, 'admth', b)} | {_cell(results, f'admth-single-{b}', b)} |")
        multi = rows["admth"]["results"][str(BITS[0])]["train_seconds"]
        single_total = (sum(s["results"][b]["train_seconds"] for b, s in singles.items()) if all(singles.values())
                        else None)
        timing = (f"Training time (seconds, the same epochs): multi-length {multi:.0f}, four single-length runs "
                  + ("not run" if single_total is None else f"{single_total:.0f} (ratio {multi / single_total:.2f})")
                  + f"; the paper: {PAPER_ADMTH_SECONDS['multi-length']} vs "
                  f"{PAPER_ADMTH_SECONDS['four single-length runs']} "
                  f"(ratio {PAPER_ADMTH_SECONDS['multi-length'] / PAPER_ADMTH_SECONDS['four single-length runs']:.2f}).")
        parts += ["\n## ADMTH (Tables 2-5)\n", "\n".join(lines) + "\n", "\n" + timing + "\n"]
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
