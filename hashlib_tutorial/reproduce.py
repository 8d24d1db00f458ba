"""``python -m hashlib_tutorial reproduce --profile quick|paper``: every method at every code length.

Writes ``results/<profile>/runs/<row>/`` (one resumable run per row of the table),
``results/<profile>/results.json`` (every number with its provenance), ``results/<profile>/results.md``
(our mAP beside the papers') and PR / precision@N / mAP-vs-bits figures into ``figures/``.
An interrupted reproduce continues where it stopped: finished rows are read back, the others resume.
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

ROOT = Path(__file__).resolve().parent.parent
BITS = (16, 32, 48, 64)

# The papers' reported mAP (CIFAR-10), with the protocol each used: comparable only within a protocol.
PAPER_MAP = {
    "dah": {"protocol": "cifar10-2, mAP@ALL", "mAP": {"12": 0.925, "24": 0.922, "36": 0.927, "48": 0.923}},
    "dpfah": {"protocol": "cifar10, mAP@ALL", "mAP": {"16": 0.838, "32": 0.845, "48": 0.852, "64": 0.855}},
    "dpsh": {"protocol": "cifar10, mAP@ALL, AlexNet (DPSH paper)", "mAP": {"12": 0.751, "24": 0.772, "32": 0.776, "48": 0.783}},
}

# row label: (method, code lengths, overrides). Rows run in this order (itq-features needs dpsh).
ROWS: dict[str, tuple[str, tuple[int, ...], dict]] = {
    "dpfah": ("dpfah", BITS, {}),
    "dah": ("dah", (12, 24, 36, 48), {}),
    "admth": ("admth", BITS, {}),
    "dpsh": ("dpsh", BITS, {}),
    "dsh": ("dsh", BITS, {}),
    "lsh": ("lsh", BITS, {}),
    "itq": ("itq", BITS, {}),
    "itq-features": ("itq", BITS, {"input_features": "{runs}/dpsh"}),
}


def reproduce(profile: str, out_root: Path = ROOT / "results", methods: list[str] | None = None,
              data_dir: str | None = None, command: str = "") -> dict:
    """Train and evaluate every row (or ``methods``), then write results.json, results.md and figures."""
    unknown = set(methods or []) - set(ROWS)
    if unknown:
        raise ValueError(f"unknown rows {sorted(unknown)}; choose from {list(ROWS)}")
    out, started = Path(out_root) / profile, time.time()
    runs = out / "runs"
    rows = {}
    for label, (method, bits, overrides) in ROWS.items():
        if methods and label not in methods:
            continue
        run_dir = runs / label
        settings = {k: v.format(runs=runs) if isinstance(v, str) else v for k, v in overrides.items()}
        if data_dir:
            settings["data_dir"] = data_dir
        if profile == "quick":
            settings.setdefault("protocol", "quick")
        done = run_dir / "metrics.json"
        if done.exists() and set(json.loads(done.read_text())["results"]) == set(map(str, bits)):
            report = json.loads(done.read_text())  # finished earlier
        else:
            report = train(method, bits, run_dir, profile, resume=True, command=command, **settings)
        rows[label] = report
    results = {
        "profile": profile, "rows": rows, "paper": PAPER_MAP,
        "provenance": {"command": command, "git_commit": git_commit(), "device": str(resolve_device()),
                       "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "seconds": round(time.time() - started, 1)},
    }
    save_json(out / "results.json", results)
    (out / "results.md").write_text(markdown_table(results))
    write_figures(results, ROOT / "figures")
    print(markdown_table(results))
    return results


def markdown_table(results: dict) -> str:
    """mAP per row and code length, with the papers' numbers (and their protocols) beside ours."""
    lines = [f"mAP@ALL on CIFAR-10, profile `{results['profile']}` "
             f"({results['provenance']['device']}, {results['provenance']['threads']} threads, "
             f"{results['provenance']['seconds'] / 60:.0f} min in all, commit {results['provenance']['git_commit']})", "",
             "| row | protocol | bits | mAP (ours) | tie-aware | P@r<=2 | paper mAP (its protocol) |",
             "|---|---|---|---|---|---|---|"]
    for label, report in results["rows"].items():
        paper = PAPER_MAP.get(report["method"]) if label == report["method"] else None
        for bits, r in report["results"].items():
            theirs = f"{paper['mAP'][bits]:.3f} ({paper['protocol']})" if paper and bits in paper["mAP"] else ""
            lines.append(f"| {label} | {report['protocol']} | {bits} | {r['mAP']:.3f} | {r['mAP_tie_aware']:.3f} | "
                         f"{r['precision_radius2']:.3f} | {theirs} |")
    return "\n".join(lines) + "\n"


def write_figures(results: dict, folder: Path) -> list[Path]:
    """PR and precision@N curves per code length, and mAP against code length per row."""
    folder.mkdir(parents=True, exist_ok=True)
    profile, written = results["profile"], []
    all_bits = sorted({int(b) for report in results["rows"].values() for b in report["results"]})
    for bits in all_bits:
        fig, (pr, pn) = plt.subplots(1, 2, figsize=(10, 4))
        for label, report in results["rows"].items():
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
    for label, report in results["rows"].items():
        bits = sorted(report["results"], key=int)
        ax.plot([int(b) for b in bits], [report["results"][b]["mAP"] for b in bits], marker="o", label=label)
    ax.set(xlabel="code length (bits)", ylabel="mAP@ALL", title=f"mAP against code length ({profile})")
    ax.legend(fontsize=8)
    written.append(folder / f"{profile}_map_vs_bits.png")
    fig.savefig(written[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return written
