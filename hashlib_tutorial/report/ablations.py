"""The report's ablation tables: each paper's claimed effects as rows at every seed, mean +- sd, and the
difference from the row each is compared with (see :mod:`seeds` for when a difference is called)."""

from __future__ import annotations

from .papers import PAPER_ADMTH_SECONDS
from .rows import BITS, PAPER_OBJECTIVE
from .seeds import format_mean_sd, mean_sd, seed_reports, seed_values, verdict


def seeded_table(rows: dict, entries: list[tuple[str, str, str | None]], bits: list[str]) -> str:
    """One line per (name, row, compared-with row) and code length: mean +- sd over seeds, and the verdict."""
    lines = ["| | row | bits | mAP, mean +- sd | against | difference |", "|---|---|---|---|---|---|"]
    for name, label, against in entries:
        for b in bits:
            values = seed_values(rows, label, b)
            versus = verdict(values, seed_values(rows, against, b)) if against else ""
            lines.append(f"| {name} | {label} | {b} | {format_mean_sd(values)} | {against or ''} | {versus} |")
    return "\n".join(lines) + "\n"


def _seconds(rows: dict, label: str) -> list[float]:
    return [next(iter(r["results"].values()))["train_seconds"] for r in seed_reports(rows, label)]


DEPARTURES = [(p, f"{p}-recipe", f"{p}-paper-objective", bits) for p, bits in
              (("dpfah", ["32"]), ("dah", ["48"]), ("admth", list(map(str, BITS))))]


def _paper_faithful(method: str) -> str:
    """What a paper-faithful row restores: the objective, and the optimiser when the row restores it too."""
    return "the paper's objective" + (" and optimiser" if "optimizer" in PAPER_OBJECTIVE[method] else "")


DPFAH_TABLE5 = [("ResNet-18 + DPSH likelihood (backbone)", "dpfah-backbone", None),
                ("+ SimAM at the stem", "dpfah-simam", "dpfah-backbone"),
                ("+ quantisation and class losses (DPFAH)", "dpfah-recipe", "dpfah-simam"),
                ("DPFAH without SimAM", "dpfah-no-simam", "dpfah-recipe"),
                ("DPFAH with SimAM in every block", "dpfah-simam-blocks", "dpfah-recipe")]
DAH_ABLATION = [("DAH (CBAM, DAH's loss)", "dah-recipe", None), ("NoneA-DAH (no CBAM)", "dah-no-cbam", "dah-recipe"),
                ("DPSH's loss, same network", "dah-dpsh-loss", "dah-recipe")]
ADMTH_ABLATION = [("ADMTH (split at the first FC, SE)", "admth-recipe", None),
                  ("branches split at the second FC", "admth-split-1", "admth-recipe"),
                  ("no SE", "admth-no-se", "admth-recipe")]


def ablation_tables(rows: dict) -> str:
    """The ablation sections of REPRODUCTION.md (empty when no ablation row has run)."""
    parts = []
    if any(recipe in rows for _, recipe, _, _ in DEPARTURES):
        lines = [seeded_table(rows, [(f"{p}: CPU recipe", recipe, None), (f"{p}: {_paper_faithful(p)}", paper, recipe)], bits)
                 for p, recipe, paper, bits in DEPARTURES]
        parts += ["\n## What the departures buy: the paper-faithful objective beside the recipe, same budget\n",
                  "\n".join(lines)]
    if "dah-recipe" in rows:
        parts += ["\n## DAH ablations (Tables 3-5)\n", seeded_table(rows, DAH_ABLATION, ["48"])]
    if "dpfah-recipe" in rows or "dpfah-backbone" in rows:
        parts += ["\n## DPFAH ablation (Table 5)\n", seeded_table(rows, DPFAH_TABLE5, ["32"])]
    if "admth-recipe" in rows:
        parts += ["\n## ADMTH: split point (Table 2) and SE\n",
                  seeded_table(rows, ADMTH_ABLATION, list(map(str, BITS)))]
        singles = [(f"single-length run, {b} bits", f"admth-single-{b}", "admth-recipe") for b in BITS]
        parts += ["\n## ADMTH: one multi-length run against four single-length runs (Table 3)\n",
                  "\n".join(seeded_table(rows, [entry], [str(b)]) for entry, b in zip(singles, BITS))]
        multi, single = _seconds(rows, "admth-recipe"), [_seconds(rows, f"admth-single-{b}") for b in BITS]
        if all(single):
            four = [sum(s) for s in zip(*single)]
            ratio = mean_sd(multi)[0] / mean_sd(four)[0]
            parts.append(f"\nTraining seconds, the same epochs: one multi-length run {format_mean_sd(multi, 0)}, "
                         f"four single-length runs {format_mean_sd(four, 0)} (ratio {ratio:.2f}); the paper: "
                         f"{PAPER_ADMTH_SECONDS['multi-length']} vs {PAPER_ADMTH_SECONDS['four single-length runs']} "
                         f"(ratio {PAPER_ADMTH_SECONDS['multi-length'] / PAPER_ADMTH_SECONDS['four single-length runs']:.2f}).\n")
    return "".join(parts)
