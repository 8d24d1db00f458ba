"""The report's ablation tables: each comparison at every seed, the difference by the one rule of
:mod:`seeds` (a t-test), the smallest difference the seeds could detect, the paper's own effect beside
it (:data:`papers.PAPER_EFFECTS`) and what that allows us to say; and the list of the runs that failed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.protocols import split_indices
from .papers import PAPER_ADMTH_SECONDS, PaperEffect, paper_effect
from .rows import ABLATION_ROWS, BITS, PAPER_OBJECTIVE
from .seeds import (ALPHA, CHANCE_MARGIN, CONSTANT_BIT, POWER, describe_failure, failed_runs, format_mean_sd,
                    format_p, format_seeds, mean_sd, pooled_sd, seed_values, seeds_needed,
                    smallest_detectable, t_test)


@dataclass(frozen=True)
class Comparison:
    """Row ``label`` against row ``against`` at ``bits``: the seeds' mAPs, the t-test and the MDD."""

    label: str
    against: str
    bits: str
    values: list[float]
    base: list[float]
    difference: float
    p: float
    sd: float   # pooled SD
    mdd: float  # smallest difference the t-test detects with 80% power
    paper: tuple[PaperEffect, int] | None

    @property
    def seeds(self) -> str:
        """"3 seeds", or "3 and 2 seeds"."""
        n, m = len(self.values), len(self.base)
        return f"{n} seeds" if n == m else f"{n} and {m} seeds"


def compare(rows: dict, label: str, against: str, bits: str) -> Comparison | None:
    """The comparison of two rows at ``bits``, or None unless both have at least 2 seeds there."""
    values, base = seed_values(rows, label, bits), seed_values(rows, against, bits)
    if len(values) < 2 or len(base) < 2:
        return None
    difference, p = t_test(values, base)
    sd = pooled_sd(values, base)
    return Comparison(label, against, bits, values, base, difference, p, sd,
                      smallest_detectable(sd, len(values), len(base)), paper_effect(label, against))


def paper_cell(c: Comparison) -> str:
    """The paper's effect in the direction of the comparison, with its table and, where they differ from
    the rows', its code length and protocol; else why there is none."""
    if c.paper is None:
        return "-"
    entry, sign = c.paper
    bits = f", at {entry.bits} bits (ours {c.bits})" if entry.bits and entry.bits != c.bits else ""
    if entry.effect is None:
        return f"not typed ({entry.paper}: {entry.where}{bits})" if entry.where else f"none in {entry.paper}"
    protocol = f", {entry.protocol}" if entry.protocol else ""
    return f"{sign * entry.effect:+.3f} ({entry.paper} {entry.where}{bits}{protocol})"


def reading(c: Comparison) -> str:
    """What the t-test, the MDD and the paper's effect allow us to say about the comparison."""
    if c.p < ALPHA:
        return "called at 5%"
    effect = None if c.paper is None else c.paper[0].effect
    if effect is None:
        return f"not called; no paper number to set against the {c.mdd:.3f} these seeds detect"
    if abs(effect) < c.mdd:
        needed = seeds_needed(effect, c.sd)
        about = f"about {needed} seeds per row would" if needed else "more than 200 seeds per row would be needed"
        return (f"cannot test at this budget (the paper's effect {abs(effect):.3f} is below the smallest difference "
                f"{c.seeds} detect, {c.mdd:.3f}; {about})")
    return f"not called, though these seeds detect the paper's effect ({abs(effect):.3f} >= {c.mdd:.3f})"


def seeded_table(rows: dict, entries: list[tuple[str, str, str | None]], bits: list[str]) -> str:
    """One line per (name, row, compared-with row) and code length: the seeds (each shown when one failed),
    and for a compared row the difference, the MDD, the paper's effect and the reading."""
    lines = ["| comparison | row | bits | mAP, mean +- sd | against | difference (t-test) | smallest detectable "
             "difference | the paper's effect | reading |", "|---|---|---|---|---|---|---|---|---|"]
    for name, label, against in entries:
        for b in bits:
            cells = ["", "", "", ""]
            if against and (c := compare(rows, label, against, b)):
                cells = [f"{c.difference:+.3f} ({format_p(c.p)})", f"{c.mdd:.3f}", paper_cell(c), reading(c)]
            elif against and seed_values(rows, label, b) and seed_values(rows, against, b):
                cells[0] = "fewer than 2 seeds"
            lines.append(f"| {name} | {label} | {b} | {format_seeds(rows, label, b)} | {against or ''} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + _papers_side(entries) + "\n"


def _papers_side(entries: list[tuple[str, str, str | None]]) -> str:
    """Below a table: what each paper compares for its rows, where, and why a number is missing."""
    said, lines = set(), []
    for _, label, against in entries:
        if against and (found := paper_effect(label, against)):
            entry = found[0]
            text = f"{entry.paper}: {entry.compares}" + (f" ({entry.where})" if entry.where else "")
            text += f": {entry.missing}" if entry.effect is None else f", {entry.bits} bits, {entry.protocol}"
            if text not in said:
                said.add(text)
                lines.append(f"- {label} against {against}: {text}. Source: {entry.source}.")
    return "\n" + "\n".join(lines) + "\n" if lines else ""


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
ADMTH_SINGLES = [("single-length run, {} bits", "admth-single-{}", "admth-recipe"),
                 ("single-length run without SE, {} bits", "admth-single-{}-no-se", "admth-recipe"),
                 ("single-length run without SE, {} bits", "admth-single-{}-no-se", "admth-no-se")]
ADMTH_TABLE2 = [("no attention, branches share the convolutions (own FC layers)", "{}no-se", None),
                ("no attention, branches share the FC layers too", "{}split-fc", "{}no-se")]


def seeds_draw(protocol: str) -> list[str]:
    """The splits a run's seed redraws on ``protocol``, found by drawing :func:`data.protocols.split_indices`
    at seeds 0 and 1 on CIFAR-10's label layout (50,000 training and 10,000 test images, 10 classes)."""
    labels = np.arange(60_000) % 10
    first, second = split_indices(labels, 50_000, protocol, 0), split_indices(labels, 50_000, protocol, 1)
    return [name for name in ("query", "train", "val", "database") if set(first[name]) != set(second[name])]


def method_note(rows: dict) -> str:
    """The generated note above the ablation tables: the rule, the MDD, the flags and what a seed draws."""
    protocols = sorted({r.get("protocol") for key, r in rows.items() if r.get("dataset", "cifar10") == "cifar10"
                        and any(key == label or key.startswith(f"{label}-seed") for label in ABLATION_ROWS)} - {None})
    draws = [(p, seeds_draw(p)) for p in protocols]
    drawn = "; ".join(f"its own {', '.join(names[:-1]) + ' and ' * (len(names) > 1) + names[-1]} images on `{p}`"
                      for p, names in draws if names)
    return (f"\n## The ablations: how a difference is called, and what a seed draws\n\nEvery difference below is called by one rule: Student's two-sample t-test on the seeds' mAPs "
            f"(pooled standard deviation s_p), two-sided at {ALPHA:.0%} (`report.seeds`). The smallest detectable "
            f"difference is what that test detects with {POWER:.0%} power at the two rows' s_p: "
            "(t_{0.975,df} + t_{0.8,df}) s_p sqrt(1/n_a + 1/n_b), df = n_a + n_b - 2. A difference the test does not "
            "call is no evidence of no effect when the effect looked for is below it. A seed whose mAP is within "
            f"{CHANCE_MARGIN} of its row's chance level, or with at least half its bits constant (set in fewer than "
            f"{CONSTANT_BIT:.0%} or more than {1 - CONSTANT_BIT:.0%} of the database codes), is shown on its own and "
            "listed under \"What failed\"." + (f" Each seed of an ablation row draws {drawn} "
                                              "(`data.protocols.split_indices`, drawn at seeds 0 and 1 to check), besides "
                                              "its initial weights and batch order: the spread between seeds includes the "
                                              "spread between splits." if drawn else "") + "\n")


def failed_list(rows: dict) -> str:
    """The generated "What failed" list: every run at chance or with collapsed codes, per row and seed."""
    runs: dict[tuple[str, int], list[str]] = {}
    for label, seed, bits, result, failure in failed_runs(rows):
        chance = result.get("chance")
        runs.setdefault((label, seed), []).append(
            f"{bits} bits mAP {result['mAP']:.4f}" + (f" (chance {chance:.3f})" if chance is not None else "")
            + f", {describe_failure(failure)}")
    if not runs:
        return ("\n## What failed, from results.json\n\nNo run is at chance or has collapsed codes "
                f"(mAP within {CHANCE_MARGIN} of chance, or half its bits constant).\n")
    lines = [f"- {label}, seed {seed}: " + "; ".join(parts) for (label, seed), parts in runs.items()]
    return ("\n## What failed, from results.json: runs at chance or with collapsed codes\n\n"
            f"A run is listed when its mAP is within {CHANCE_MARGIN} of its row's chance level or at least half its "
            f"bits are constant (set in fewer than {CONSTANT_BIT:.0%} or more than {1 - CONSTANT_BIT:.0%} of the "
            "database codes, `bit_balance.fraction_ones`); the tables show such seeds on their own.\n\n"
            + "\n".join(lines) + "\n")


def ablation_tables(rows: dict) -> str:
    """The ablation sections of REPRODUCTION.md and the list of failed runs (no ablation section when no
    ablation row has run)."""
    parts = []
    if any(recipe in rows for _, recipe, _, _ in DEPARTURES):
        parts.append(method_note(rows))
        lines = [seeded_table(rows, [(f"{p}: CPU recipe", recipe, None), (f"{p}: {_paper_faithful(p)}", paper, recipe)], bits)
                 for p, recipe, paper, bits in DEPARTURES]
        parts += ["\n## What the departures buy: the paper's objective beside the CPU recipe, same network and budget "
                  "(no paper makes this comparison)\n", "\n".join(lines)]
    if "dah-recipe" in rows:
        parts += ["\n## DAH without CBAM (DAH's NoneA-DAH) and with DPSH's loss (not in DAH), 48 bits on `cifar10`\n",
                  seeded_table(rows, DAH_ABLATION, ["48"])]
    if "dpfah-recipe" in rows or "dpfah-backbone" in rows:
        parts += ["\n## DPFAH's ablation (its Table 5, at 48 bits; these rows at 32 bits), and SimAM removed from or "
                  "put in every block of the full model (not in DPFAH)\n", seeded_table(rows, DPFAH_TABLE5, ["32"])]
    if "admth-recipe" in rows:
        parts += ["\n## ADMTH: branches split at the first or the second FC layer, SE on or off (ADMTH's Table 2 "
                  "compares branches sharing convolutional against FC layers without attention: not these rows)\n",
                  seeded_table(rows, ADMTH_ABLATION, list(map(str, BITS)))]
        for data, prefix in (("`cifar10`", "admth-"), ("the mosaic stand-in", "admth-mosaic-")):
            if f"{prefix}split-fc" in rows:
                entries = [(name, label.format(prefix), against and against.format(prefix))
                           for name, label, against in ADMTH_TABLE2]
                parts += [f"\n## ADMTH's Table 2 as the paper defines it: where the branches split, without attention, "
                          f"on {data}\n", seeded_table(rows, entries, list(map(str, BITS)))]
        parts += ["\n## ADMTH: one multi-length run against a single-length run per length (ADMTH shows this "
                  "comparison in a figure, its single-length models without attention; its Table 3 gives the "
                  "training seconds below)\n",
                  "\n".join(seeded_table(rows, [(name.format(b), label.format(b), against)
                                                 for name, label, against in ADMTH_SINGLES
                                                 if name == ADMTH_SINGLES[0][0] or label.format(b) in rows], [str(b)])
                            for b in BITS)]
        multi = seed_values(rows, "admth-recipe", "16", "train_seconds")  # one run trains every length
        single = [seed_values(rows, f"admth-single-{b}", str(b), "train_seconds") for b in BITS]
        if multi and all(single):
            four = [sum(s) for s in zip(*single)]
            ratio = mean_sd(multi)[0] / mean_sd(four)[0]
            paper = PAPER_ADMTH_SECONDS
            parts.append(f"\nTraining seconds, the same epochs: one multi-length run {format_mean_sd(multi, 0)}, "
                         f"four single-length runs {format_mean_sd(four, 0)} (ratio {ratio:.2f}); the paper: "
                         f"{paper['multi-length']} vs {paper['four single-length runs']} "
                         f"(ratio {paper['multi-length'] / paper['four single-length runs']:.2f}).\n")
    if parts or failed_runs(rows):
        parts.append(failed_list(rows))
    return "".join(parts)
