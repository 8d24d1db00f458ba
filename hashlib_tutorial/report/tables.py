"""The report's Markdown tables, generated from a results dictionary (``results.json``), and the README
and REPRODUCTION.md blocks they fill."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..training.config import profile_settings
from ..training.registry import method_class
from .ablations import ablation_tables
from .compute import report_compute, training_seconds
from .departures import departures, describe_protocol, group, group_name, shared_departures
from .findings import findings, format_map, network
from .papers import PAPER_DAH_ENCODE_US, PAPER_MAP
from .rows import MAIN_ROWS
from .status import unfinished


def _epochs(report: dict) -> str:
    deep = method_class(report["method"]).deep
    return str(report.get("config", {}).get("epochs", "")) if deep else "-"  # lsh, itq: no training epochs


def _paper_row(label: str, report: dict) -> dict | None:
    """The paper's numbers for a main row of the paper's own method, on the paper's own protocol only."""
    paper = PAPER_MAP.get(report["method"])
    same = label.split("-")[0] == report["method"] and group(report) == ("cifar10", (paper or {}).get("protocol", "").split(",")[0])
    return paper if same else None


def machine(provenance: dict) -> str:
    """What trained a row: "cpu: AMD EPYC (AVX2), float32, 2 threads"; "hardware not recorded" for the rows
    trained before provenance held it (their seconds compare only with rows of the same machine)."""
    if not provenance:
        return "not recorded"
    hardware, threads = provenance.get("hardware"), provenance["threads"]
    threads = f"{threads} thread{'' if threads == 1 else 's'}"
    if hardware is None:
        return f"{provenance['device']}, {threads}, hardware not recorded"
    parts = [f"{provenance['device']}: {hardware['cpu']} ({hardware['cpu_capability']})", hardware.get("gpu"),
             provenance.get("autocast"), threads]
    return ", ".join(part for part in parts if part)


def _own_protocol(dataset: str, protocol: str) -> str:
    """" (the protocol of DAH's paper)" when a paper's own numbers (:data:`papers.PAPER_MAP`) were measured on it."""
    papers = [p.upper() for p, paper in PAPER_MAP.items() if (dataset, protocol) == ("cifar10", paper["protocol"].split(",")[0])]
    return f" (the protocol of {' and '.join(papers)}'s paper{'s' * (len(papers) > 1)})" if papers else ""


def _groups(results: dict, pending: dict) -> dict[tuple[str, str], list[str]]:
    """(dataset, protocol) -> the main rows of results on it, in the order reproduce trains them; a protocol
    with only rows still to train has an empty list."""
    found: dict[tuple[str, str], list[str]] = {}
    for key, (_, _, wanted) in pending.items():
        found.setdefault(group(wanted), [])
    for label, report in results["rows"].items():
        if label in MAIN_ROWS:
            found.setdefault(group(report), []).append(label)
    return found


def _pending_lines(results: dict, pending: dict, where: tuple[str, str]) -> list[str]:
    """The rows of protocol ``where`` that are not trained yet under the current settings, with their command."""
    labels: dict[str, list[str]] = {}
    for key, (label, why, wanted) in pending.items():
        if group(wanted) == where:
            labels.setdefault(label, []).append(key if why == "not run" else f"{key}: {why}")
    if not labels:
        return []
    lines = ["", "Not trained yet under the current settings (`results.json` has no result with the settings "
             "each row has now):", ""]
    for label, keys in labels.items():
        lines.append(f"- {label} ({'; '.join(keys)}): `python -m hashlib_tutorial reproduce --profile "
                     f"{results['profile']} --commit --rows {label}`")
    return lines


def markdown_table(results: dict, pending: dict | None = None) -> str:
    """One section per protocol: its sizes and shared departures, its rows (network, epochs, seconds, machine,
    the row's own departures), their mAP (with the paper's beside only on the paper's own protocol) and the
    rows ``pending`` (see :func:`status.unfinished`) still to train on it."""
    rows, pending, parts = results["rows"], pending or {}, []
    for where, labels in _groups(results, pending).items():
        reports = [rows[label] for label in labels]
        shared = shared_departures(reports)
        commits = ", ".join(sorted({r["provenance"]["git_commit"] for r in reports if "provenance" in r})) or "none"
        trained = (" Every trained row here departs from its method's `paper` profile (the paper's settings where its "
                   "text states them, the assumptions of 'Gaps in the papers' where it does not) in: "
                   f"{'; '.join(shared) or 'nothing found'}. "
                   f"Profile `{results['profile']}`, trained at commit {commits}.") if labels else ""
        lines = [f"### `{group_name(*where)}`{_own_protocol(*where)}", "", f"Protocol {describe_protocol(*where)}{trained}"]
        if labels:
            lines += ["", "| row | network | epochs | train s | machine | the row's other departures |", "|---|---|---|---|---|---|"]
            lines += [f"| {label} | {network(r)} | {_epochs(r)} | {training_seconds(r):.0f} | "
                      f"{machine(r.get('provenance', {}))} | {'; '.join(d for d in departures(r) if d not in shared)} |"
                      for label, r in zip(labels, reports)]
            papers = {label: _paper_row(label, r) for label, r in zip(labels, reports)}
            theirs = any(papers.values())
            lines += ["", "| row | bits | mAP@ALL | tie-aware | chance | P@r<=2 | P@1000 |" + (" paper's mAP |" if theirs else ""),
                      "|---|---|---|---|---|---|---|" + ("---|" if theirs else "")]
            for label, report in zip(labels, reports):
                paper = papers[label]
                for bits, r in report["results"].items():
                    chance = "" if r.get("chance") is None else f"{r['chance']:.3f}"
                    cells = [label, bits, format_map(r), f"{r['mAP_tie_aware']:.3f}", chance,
                             f"{r['precision_radius2']:.3f}", _p1000(r)]
                    if theirs:
                        note = ", ".join(p for p in paper["protocol"].split(", ")[1:] if p != "mAP@ALL") if paper else ""
                        cells.append(f"{paper['mAP'][bits]:.3f}{f' ({note})' if note else ''}"
                                     if paper and bits in paper["mAP"] else "")
                    lines.append("| " + " | ".join(cells) + " |")
        else:
            lines += ["", "No row trained on it yet."]
        parts.append("\n".join(lines + _pending_lines(results, pending, where)) + "\n")
    return "\n".join(parts)


def _p1000(r: dict) -> str:
    value = r.get("precision_at_n", {}).get("1000")
    return "" if value is None else f"{value:.3f}"


DAH_TABLE2 = ("dah", "dah-12", "dah-24", "dah-36", "dah-paper")  # the rows of DAH on its own protocol


def _ones_to_zeros(r: dict) -> str:
    """The smallest and largest ones:zeros ratio of a bit, p_k / (1 - p_k), over the database codes."""
    p = np.asarray(r["bit_balance"].get("fraction_ones", []), dtype=float)
    if not len(p):
        return ""
    ratio = np.divide(p, 1 - p, out=np.full(p.shape, np.inf), where=p < 1)
    return f"{ratio.min():.2f}-{ratio.max():.2f}"


def dah_table2(rows: dict) -> str:
    """DAH's rows on its own protocol beside DAH's Table 2, with encoding time and bit balance ("" without a row)."""
    protocol = profile_settings("dah", "paper")["protocol"]
    dah_rows = [(label, b, r) for label in DAH_TABLE2 if label in rows and group(rows[label]) == ("cifar10", protocol)
                for b, r in rows[label]["results"].items()]
    if not dah_rows:
        return ""
    paper_bits = ", ".join(PAPER_MAP["dah"]["mAP"])
    lines = [f"\n## DAH on `{protocol}` beside DAH's Table 2 (its mAP@ALL at {paper_bits} bits on `{protocol}`)\n",
             "Bit balance is measured on the database codes, p_k being the fraction of codes with bit k set. Both "
             "balance columns are this report's statistics, not the one in DAH's Table 5 (the paper's text was not "
             "available here to check which statistic that table prints), so they have no paper column.", "",
             "| bits | row | network | epochs | train s | mAP@ALL | DAH's Table 2 mAP | P@1000 | "
             f"encode us/img (DAH, its GPU: {PAPER_DAH_ENCODE_US:,}) | mean of abs(p_k - 1/2) | ones:zeros of a bit, min-max |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, b, r in sorted(dah_rows, key=lambda row: int(row[1])):
        paper = PAPER_MAP["dah"]["mAP"].get(b)
        lines.append(f"| {b} | {label} | {network(rows[label])} | {_epochs(rows[label])} | "
                     f"{r.get('train_seconds', 0):.0f} | {format_map(r)} | {'' if paper is None else f'{paper:.3f}'} | "
                     f"{_p1000(r)} | {r['encode_us_per_image']:.0f} | {r['bit_balance']['mean_abs_deviation']:.3f} | "
                     f"{_ones_to_zeros(r)} |")
    return "\n".join(lines) + "\n"


def report_tables(results: dict) -> str:
    """Every table of REPRODUCTION.md, generated from results.json (so the two cannot disagree), with the rows
    still to train under the current settings and, for the cpu profile, every CPU-hour behind the report."""
    rows = results["rows"]
    parts = ["## Results, one protocol at a time\n\n", markdown_table(results, unfinished(results)),
             "\n## Findings\n\n", findings(results), dah_table2(rows), ablation_tables(rows)]
    if results["profile"] == "cpu":
        parts += ["\n## Compute: every CPU-hour behind this report\n\n", report_compute(rows)]
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
    """mAP@ALL of the main rows, one line per row and one column per code length, with each row's protocol
    (the README's table); the papers' numbers on their own protocols below."""
    main = {label: r for label, r in results["rows"].items() if label in MAIN_ROWS}
    main = dict(sorted(main.items(), key=lambda item: list(dict.fromkeys(map(group, main.values()))).index(group(item[1]))))
    bits = sorted({int(b) for r in main.values() for b in r["results"]})
    lines = ["| row | protocol | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---" * (len(bits) + 2) + "|"]
    for label, report in main.items():
        cells = [format_map(report["results"][str(b)]) if str(b) in report["results"] else "" for b in bits]
        lines.append(f"| {label} | {group_name(*group(report))} | " + " | ".join(cells) + " |")
    for method, paper in PAPER_MAP.items():
        if method in main:
            protocol, *notes = paper["protocol"].split(", ")
            cells = [f"{paper['mAP'][str(b)]:.3f}" if str(b) in paper["mAP"] else "" for b in bits]
            lines.append(f"| {method}, paper{''.join(f', {n}' for n in notes if n != 'mAP@ALL')} | {protocol} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
