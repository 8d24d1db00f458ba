"""The report's findings, written from a results dictionary: every number and every direction in them
comes from ``results.json``, so the prose cannot drift from the tables."""

from __future__ import annotations

from ..training.registry import method_class
from .ablations import compare, paper_cell, reading
from .papers import PAPER_ADMTH_SECONDS, PAPER_MAP
from .seeds import format_p, format_seeds, mean_sd, seed_reports, seed_values

# (what is compared, row, baseline row, code length): the effects the papers claim
EFFECTS = [
    ("CBAM in DAH (DAH against NoneA-DAH)", "dah-recipe", "dah-no-cbam", "48"),
    ("DAH's loss against DPSH's on the same network", "dah-recipe", "dah-dpsh-loss", "48"),
    ("SimAM at DPFAH's stem (DPFAH against DPFAH without SimAM)", "dpfah-recipe", "dpfah-no-simam", "32"),
    ("SimAM on the backbone alone (no quantisation or class loss)", "dpfah-simam", "dpfah-backbone", "32"),
    ("DPFAH's quantisation and class losses", "dpfah-recipe", "dpfah-simam", "32"),
    ("SimAM at the stem against SimAM in every block", "dpfah-recipe", "dpfah-simam-blocks", "32"),
    ("SE in ADMTH's trunk", "admth-recipe", "admth-no-se", "32"),
    ("ADMTH's branches split at the first FC layer rather than the second", "admth-recipe", "admth-split-1", "32"),
    ("one multi-length ADMTH run against a single-length run", "admth-recipe", "admth-single-32", "32"),
    ("DPFAH's CPU recipe against its paper's objective and optimiser", "dpfah-recipe", "dpfah-paper-objective", "32"),
    ("DAH's CPU recipe against its paper's objective and optimiser", "dah-recipe", "dah-paper-objective", "48"),
    ("ADMTH's CPU recipe against its paper's objective", "admth-recipe", "admth-paper-objective", "32"),
]


def network(report: dict) -> str:
    """The row's network: backbone, width and attention, e.g. "resnet18 x0.25, cbam in every block"."""
    if not method_class(report["method"]).deep:
        return "-"
    config = report.get("config", {})
    kwargs = config.get("backbone_kwargs") or {}
    width = f" x{kwargs['width']:g}" if "width" in kwargs else ""
    attention = config.get("attention") or "no attention"
    if config.get("attention") and config.get("backbone") == "resnet18":  # ResNet18's placements
        attention += {"blocks": " in every block", "stages": " after the stem and stages 1-3"}.get(
            kwargs.get("placement"), " at the stem")
    classifier = ", class branch on the codes" if "class_from_codes" in config.get("departures", ()) else ""
    flip = ", codes averaged with the mirror image's (test_flip)" if config.get("test_flip") else ""
    return f"{config.get('backbone', '')}{width}, {attention}{classifier}{flip}"


def format_map(r: dict) -> str:
    """mAP, and with test_flip the mAP of one view beside it."""
    return f"{r['mAP']:.3f}" + (f" (one view {r['mAP_one_view']:.3f})" if "mAP_one_view" in r else "")


def _ours(rows: dict, label: str, bits: str) -> str:
    """A main row's mAP at ``bits``: seed 0's (format_map), or over its seeds when it has several (the
    one-view mAP as their mean)."""
    if len(seed_values(rows, label, bits)) < 2:
        return format_map(rows[label]["results"][bits])
    one_view = [r["results"][bits]["mAP_one_view"] for r in seed_reports(rows, label) if "mAP_one_view" in r["results"].get(bits, {})]
    return format_seeds(rows, label, bits) + (f", one view {mean_sd(one_view)[0]:.3f}" if one_view else "")


def _headline(rows: dict, label: str, paper: str) -> str | None:
    report = rows.get(label)
    if not report:
        return None
    minutes = max(r["train_seconds"] for r in report["results"].values()) / 60
    ours = ", ".join(f"{_ours(rows, label, b)} at {b} bits" for b in report["results"])
    theirs = ", ".join(f"{PAPER_MAP[paper]['mAP'][b]:.3f} at {b}" for b in report["results"] if b in PAPER_MAP[paper]["mAP"])
    return (f"**{label}** ({report['protocol']}, {network(report)}, {report['config']['epochs']} epochs, "
            f"{minutes:.0f} min of training per model): mAP@ALL {ours}" + (f"; the paper ({PAPER_MAP[paper]['protocol']}): {theirs}." if theirs else "."))


def _span(values: list[float]) -> str:
    """"0.378", or "0.378-0.392" when the values differ at three decimals."""
    low, high = f"{min(values):.3f}", f"{max(values):.3f}"
    return low if low == high else f"{low}-{high}"


def effect_line(rows: dict, name: str, label: str, baseline: str, bits: str) -> str | None:
    """One claimed effect: both rows' seeds, the t-test, the smallest detectable difference, the paper's
    effect and the reading (see :mod:`ablations`); None unless both rows ran."""
    if not (seed_values(rows, label, bits) and seed_values(rows, baseline, bits)):
        return None
    head = f"- {name}, {bits} bits: {format_seeds(rows, label, bits)} against {format_seeds(rows, baseline, bits)}"
    if (c := compare(rows, label, baseline, bits)) is None:
        return f"{head}: fewer than 2 seeds."
    return (f"{head}: {c.difference:+.3f} (t-test {format_p(c.p)}); smallest difference {c.seeds} detect: {c.mdd:.3f}; "
            f"the paper: {paper_cell(c)}; {reading(c)}.")


def findings(results: dict) -> str:
    """Markdown bullets: the headline rows against the papers, then each claimed effect with its reading."""
    rows, lines = results["rows"], []
    for label, paper in (("dah", "dah"), ("dah-12", "dah"), ("dah-24", "dah"), ("dah-36", "dah"), ("dah-paper", "dah"), ("dpfah", "dpfah"),
                         ("dpfah-wide", "dpfah")):
        if (line := _headline(rows, label, paper)) is not None:
            lines.append(f"- {line}")
    for label in ("admth", "admth-mosaic"):
        if report := rows.get(label):
            chance = [r["chance"] for r in report["results"].values() if r.get("chance") is not None]
            lines.append(f"- **{label}** ({report.get('dataset', 'cifar10')}, {report['config']['epochs']} epochs): mAP@ALL "
                         + ", ".join(_ours(rows, label, b) for b in report["results"])
                         + f" at {'/'.join(report['results'])} bits"
                         + (f" (chance {_span(chance)})." if chance else "."))
    for name, label, baseline, bits in EFFECTS:
        if line := effect_line(rows, name, label, baseline, bits):
            lines.append(line)
    multi = seed_values(rows, "admth-recipe", "16", "train_seconds")  # one run trains every length
    singles = [seed_values(rows, f"admth-single-{b}", str(b), "train_seconds") for b in (16, 32, 48, 64)]
    if multi and all(singles):
        ratio = mean_sd(multi)[0] / sum(mean_sd(s)[0] for s in singles)
        paper = PAPER_ADMTH_SECONDS["multi-length"] / PAPER_ADMTH_SECONDS["four single-length runs"]
        lines.append(f"- Training ADMTH's four lengths at once took {ratio:.2f} of the time of four single-length "
                     f"runs (the paper: {paper:.2f}).")
    return "\n".join(lines) + "\n" if lines else "No rows finished yet.\n"
