"""``python -m hashlib_tutorial reproduce --profile quick|cpu|paper``: every method at every code length.

Writes ``results/<profile>/runs/<row>/`` (one resumable run per row of the table),
``results/<profile>/results.json`` (every number with its provenance, rewritten after each row),
``results/<profile>/results.md`` (the report's tables, generated from results.json) and PR /
precision@N / mAP-vs-bits figures into ``figures/``. An interrupted reproduce continues where it
stopped: finished rows are read back, the others resume from their last epoch.

Profiles (see :data:`methods.PROFILES`): ``demo`` (``make demo``: one model of each paper and the
baselines, at most 20 minutes on 2 cores), ``quick`` (the main rows, every length), ``cpu`` (the
reproduction report: the ``cifar10`` protocol, the main rows and the ablations), ``paper`` (the
papers' settings, for a GPU).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .engine import git_commit, resolve_device, save_json, train  # noqa: E402
from .methods import PROFILES, method_class  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BITS = (16, 32, 48, 64)

# The papers' reported numbers (CIFAR-10), with the protocol each used: comparable only within a protocol.
PAPER_MAP = {
    "dah": {"protocol": "cifar10-2, mAP@ALL", "mAP": {"12": 0.925, "24": 0.922, "36": 0.927, "48": 0.923}},
    "dpfah": {"protocol": "cifar10, mAP@ALL", "mAP": {"16": 0.838, "32": 0.845, "48": 0.852, "64": 0.855}},
    "dpsh": {"protocol": "cifar10, mAP@ALL, AlexNet (DPSH paper)", "mAP": {"12": 0.751, "24": 0.772, "32": 0.776, "48": 0.783}},
}
PAPER_DAH_ENCODE_US = 5280  # DAH's encoding time per image (its GPU)
PAPER_ADMTH_SECONDS = {"multi-length": 209.6, "four single-length runs": 629.8}  # ADMTH Table 3


def _on_dah_backbone(profile: str) -> dict:
    """Overrides that put a method on DAH's backbone with DAH's training settings (the loss ablation)."""
    dah = method_class("dah").profiles[profile]
    keys = ("epochs", "batch_size", "optimizer", "lr", "lr_schedule", "image_size", "backbone", "backbone_kwargs",
            "attention", "augment", "precision", "channels_last")
    return {"protocol": dah.get("protocol", "quick"), **{k: dah[k] for k in keys if k in dah}}


def _simam_in_blocks(profile: str) -> dict:
    kwargs = method_class("dpfah").profiles[profile]["backbone_kwargs"]
    return {"backbone_kwargs": {**kwargs, "placement": "blocks"}}


# row label: (method, code lengths, overrides or a function of the profile). Rows run in this order,
# most important first (itq-features needs dpsh), so an interrupted run has the main table.
MAIN_ROWS = {
    "dpfah": ("dpfah", BITS, {}),
    "dah": ("dah", (12, 24, 36, 48), {}),
    "admth": ("admth", BITS, {}),
    "dpsh": ("dpsh", BITS, {}),
    "dsh": ("dsh", BITS, {}),
    "lsh": ("lsh", BITS, {}),
    "itq": ("itq", BITS, {}),
    "itq-features": ("itq", BITS, {"input_features": "{runs}/dpsh"}),
}
# make demo: one model of each paper (ADMTH's one model learns every length) and the baselines.
DEMO_ROWS = {
    "dpfah": ("dpfah", (32,), {}),
    "dah": ("dah", (48,), {}),
    "admth": ("admth", BITS, {}),
    "dpsh": ("dpsh", (32,), {}),
    "lsh": ("lsh", BITS, {}),
    "itq": ("itq", BITS, {}),
}
# Ablations (profiles cpu and paper), at one code length where a row would otherwise cost four runs.
ABLATION_ROWS = {
    "dpfah-backbone": ("dpfah", (32,), {"attention": None, "loss_weights": {"eta": 0.0, "zeta": 0.0}}),
    "dpfah-simam": ("dpfah", (32,), {"loss_weights": {"eta": 0.0, "zeta": 0.0}}),
    "dpfah-no-simam": ("dpfah", (32,), {"attention": None}),
    "dpfah-simam-blocks": ("dpfah", (32,), _simam_in_blocks),
    "dah-no-cbam": ("dah", (48,), {"attention": None}),
    "dah-dpsh-loss": ("dpsh", (48,), _on_dah_backbone),
    **{f"admth-single-{k}": ("admth", (k,), {}) for k in BITS},
}


def rows_for(profile: str) -> dict:
    """The rows ``reproduce`` runs for a profile: the demo's, the main table, or it and the ablations."""
    return {"demo": DEMO_ROWS, "quick": MAIN_ROWS}.get(profile, {**MAIN_ROWS, **ABLATION_ROWS})


def row_settings(label: str, profile: str, runs: Path, data_dir: str | None = None) -> dict:
    """The TrainConfig overrides of one row under a profile."""
    _, _, overrides = rows_for(profile)[label]
    overrides = overrides(profile) if callable(overrides) else overrides
    settings = {k: v.format(runs=runs) if isinstance(v, str) else v for k, v in overrides.items()}
    if data_dir:
        settings["data_dir"] = data_dir
    return settings


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
        "provenance": {"command": command, "git_commit": git_commit(), "device": str(resolve_device()),
                       "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "seconds": round(time.time() - started, 1)},
    }


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
                 "encode us/img (paper: 5,280) | bit balance: mean abs(fraction of ones - 1/2) |",
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
                  f"{PAPER_ADMTH_SECONDS['four single-length runs']} (ratio 0.33).")
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


def write_figures(results: dict, folder: Path) -> list[Path]:
    """PR and precision@N curves per code length, and mAP against code length per main row."""
    folder.mkdir(parents=True, exist_ok=True)
    profile, written = results["profile"], []
    main = {label: report for label, report in results["rows"].items() if label in MAIN_ROWS}
    all_bits = sorted({int(b) for report in main.values() for b in report["results"]})
    for bits in all_bits:
        fig, (pr, pn) = plt.subplots(1, 2, figsize=(10, 4))
        for label, report in main.items():
            r = report["results"].get(str(bits))
            if r is None:
                continue
            pr.plot(r["pr_curve"]["recall"], r["pr_curve"]["precision"], marker=".", label=label)
            n = [int(k) for k in r["precision_at_n"]]
            pn.plot(n, list(r["precision_at_n"].values()), marker=".", label=label)
        pr.set(xlabel="recall", ylabel="precision", title=f"PR over Hamming radius, {bits} bits")
        pn.set(xlabel="N", ylabel="precision@N", xscale="log", title=f"precision@N, {bits} bits")
        pr.legend(fontsize=8)
        written.append(folder / f"{profile}_pr_pn_{bits}bits.png")
        fig.savefig(written[-1], dpi=100, bbox_inches="tight")
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, report in main.items():
        bits = sorted(report["results"], key=int)
        ax.plot([int(b) for b in bits], [report["results"][b]["mAP"] for b in bits], marker="o", label=label)
    ax.set(xlabel="code length (bits)", ylabel="mAP@ALL", title=f"mAP against code length ({profile})")
    ax.legend(fontsize=8)
    written.append(folder / f"{profile}_map_vs_bits.png")
    fig.savefig(written[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return written
