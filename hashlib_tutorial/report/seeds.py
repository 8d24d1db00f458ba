r"""A row's seeds in a results dictionary: mean and spread, the one rule by which the report calls a
difference between two rows, the smallest difference that rule can detect, and the seeds that failed.

Seed s > 0 of row ``label`` is stored as ``label-seed{s}`` (see :func:`rows.seed_key`).

The rule: Student's two-sample t-test on the seeds' mAPs, pooled standard deviation, two-sided at 5%:

    s_p = sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2))       pooled SD, df = n_a + n_b - 2
    t   = (mean_a - mean_b) / (s_p sqrt(1/n_a + 1/n_b))                       called when p < 0.05

and the smallest difference that test detects with 80% power (the minimum detectable difference,
with the usual t approximation of the power of a two-sample t-test):

    MDD = (t_{0.975, df} + t_{0.8, df}) s_p sqrt(1/n_a + 1/n_b)

A difference the test does not call is no evidence of "no effect" when the effect looked for is
below the MDD: these seeds could not have seen it.

A seed has *failed* at a code length when its mAP is within CHANCE_MARGIN of the row's chance level,
or when at least half its bits are constant (a bit is constant when its fraction of ones over the
database, ``bit_balance.fraction_ones``, is below CONSTANT_BIT or above 1 - CONSTANT_BIT). Methods that
learn nothing from the data (NOT_LEARNED, LSH) never fail.
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy import stats

ALPHA, POWER = 0.05, 0.8  # two-sided level of the t-test, and the power the MDD is defined at
CHANCE_MARGIN = 0.02      # mAP within this of the chance level: the seed is at chance
CONSTANT_BIT = 0.02       # a bit set in fewer than 2% (or more than 98%) of the database codes is constant
NOT_LEARNED = ("lsh",)    # random projections: near chance by construction, never a failed run


def seed_items(rows: dict, label: str) -> list[tuple[int, dict]]:
    """(seed, report) of every seed of row ``label`` present in ``rows``, in the order of ``rows``."""
    pattern = re.compile(rf"{re.escape(label)}(?:-seed(\d+))?")
    return [(int(m.group(1) or 0), report) for key, report in rows.items() if (m := pattern.fullmatch(key))]


def seed_reports(rows: dict, label: str) -> list[dict]:
    """Every seed of row ``label`` present in ``rows`` (seed 0 first)."""
    return [report for _, report in seed_items(rows, label)]


def seed_values(rows: dict, label: str, bits: str, field: str = "mAP") -> list[float]:
    """``field`` of every seed of row ``label`` at ``bits``."""
    return [r["results"][bits][field] for r in seed_reports(rows, label) if bits in r.get("results", {})]


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def format_mean_sd(values: list[float], digits: int = 3) -> str:
    """"0.512 +- 0.008 (3 seeds)", or "not run"."""
    if not values:
        return "not run"
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f} +- {sd:.{digits}f} ({len(values)} seed{'s' * (len(values) > 1)})"


def pooled_sd(values: list[float], baseline: list[float]) -> float:
    """s_p, the pooled standard deviation of two groups of at least 2 seeds together."""
    df = len(values) + len(baseline) - 2
    return math.sqrt(((len(values) - 1) * mean_sd(values)[1] ** 2 + (len(baseline) - 1) * mean_sd(baseline)[1] ** 2) / df)


def t_test(values: list[float], baseline: list[float]) -> tuple[float, float]:
    """The difference of the means (values minus baseline) and its two-sided p-value (pooled SD)."""
    difference = mean_sd(values)[0] - mean_sd(baseline)[0]
    scale = pooled_sd(values, baseline) * math.sqrt(1 / len(values) + 1 / len(baseline))
    if scale == 0:  # every seed of both rows gave the same value: any difference is exact
        return difference, 0.0 if difference else 1.0
    df = len(values) + len(baseline) - 2
    return difference, float(2 * stats.t.sf(abs(difference) / scale, df))


def smallest_detectable(sd: float, n_a: int, n_b: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """MDD: the difference the t-test at level ``alpha`` detects with probability ``power``, given the
    pooled SD ``sd`` and n_a, n_b seeds."""
    df = n_a + n_b - 2
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd * math.sqrt(1 / n_a + 1 / n_b))


def seeds_needed(effect: float, sd: float, most: int = 200) -> int | None:
    """The fewest seeds per row whose MDD (same pooled SD) is at most ``abs(effect)``; None beyond ``most``."""
    for n in range(2, most + 1):
        if smallest_detectable(sd, n, n) <= abs(effect):
            return n
    return None


def format_p(p: float) -> str:
    """"p < 0.001" or "p = 0.29"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def verdict(values: list[float], baseline: list[float]) -> str:
    """How ``values`` compare with ``baseline`` by the t-test: "+0.194 (t-test p < 0.001: called at 5%)",
    or "+0.018 (t-test p = 0.29: not called at 5%; these seeds detect differences of 0.055 or more)"."""
    if len(values) < 2 or len(baseline) < 2:
        return "fewer than 2 seeds" if values and baseline else ""
    difference, p = t_test(values, baseline)
    if p < ALPHA:
        return f"{difference:+.3f} (t-test {format_p(p)}: called at 5%)"
    mdd = smallest_detectable(pooled_sd(values, baseline), len(values), len(baseline))
    return f"{difference:+.3f} (t-test {format_p(p)}: not called at 5%; these seeds detect differences of {mdd:.3f} or more)"


def seed_failure(result: dict) -> tuple[bool, int, int] | None:
    """(at chance, constant bits, bits) when one run at one code length failed (see the module
    docstring), else None. ``result`` is ``report["results"][bits]``."""
    chance = result.get("chance")
    at_chance = chance is not None and result["mAP"] - chance < CHANCE_MARGIN
    ones = result.get("bit_balance", {}).get("fraction_ones") or []
    constant = sum(1 for f in ones if f < CONSTANT_BIT or f > 1 - CONSTANT_BIT)
    if at_chance or (ones and constant >= len(ones) / 2):
        return at_chance, constant, len(ones)
    return None


def describe_failure(failure: tuple[bool, int, int]) -> str:
    """"at chance, 32 of 32 bits constant"."""
    at_chance, constant, bits = failure
    return ", ".join(part for part in ("at chance" if at_chance else "", f"{constant} of {bits} bits constant" if bits else "") if part)


def format_seeds(rows: dict, label: str, bits: str, digits: int = 3) -> str:
    """mean +- sd over the seeds, and every seed's value with the failed ones flagged when any seed failed:
    "0.126 +- 0.033 over 3 seeds: seed 0 0.164; seed 1 0.100 (at chance, 32 of 32 bits constant); ..."."""
    items = [(seed, r["results"][bits], r.get("method")) for seed, r in seed_items(rows, label) if bits in r.get("results", {})]
    values = [r["mAP"] for _, r, _ in items]
    failures = {seed: None if method in NOT_LEARNED else seed_failure(r) for seed, r, method in items}
    if not any(failures.values()):
        return format_mean_sd(values, digits)
    mean, sd = mean_sd(values)
    each = "; ".join(f"seed {seed} {r['mAP']:.{digits}f}" + (f" ({describe_failure(f)})" if (f := failures[seed]) else "")
                     for seed, r, _ in items)
    return f"{mean:.{digits}f} +- {sd:.{digits}f} over {len(values)} seeds: {each}"


def failed_runs(rows: dict) -> list[tuple[str, int, str, dict, tuple[bool, int, int]]]:
    """(row, seed, bits, result, failure) of every run in ``rows`` that failed at some code length."""
    found = []
    for key, report in rows.items():
        m = re.fullmatch(r"(.*?)(?:-seed(\d+))?", key)
        if report.get("method") in NOT_LEARNED:
            continue
        for bits, result in report.get("results", {}).items():
            if (failure := seed_failure(result)) is not None:
                found.append((m.group(1), int(m.group(2) or 0), bits, result, failure))
    return found


def against_report(a: str, b: str, shown: dict, report_rows: dict, row_a: str, row_b: str, bits: str) -> str:
    """The one-seed difference a - b of two models shown in a notebook (``shown[name]["mAP"]``), set
    against the seed spread of the report's rows row_a and row_b, by the report's rule (see the module
    docstring): two single runs whose true mAPs are equal differ by more than
    t_{0.975, df} s_p sqrt(2) only one time in 20, s_p being the report rows' pooled SD. The report's
    rows have their own budget and protocol."""
    values_a, values_b = seed_values(report_rows, row_a, bits), seed_values(report_rows, row_b, bits)
    sd = pooled_sd(values_a, values_b)
    band = float(stats.t.ppf(1 - ALPHA / 2, len(values_a) + len(values_b) - 2)) * sd * math.sqrt(2)
    shown_difference = shown[a]["mAP"] - shown[b]["mAP"]
    report = verdict(values_a, values_b)
    called = report.endswith("called at 5%)")
    lines = [f"\"{a}\" minus \"{b}\": {shown_difference:+.3f} on the models shown (one seed each)",
             f"  the report's rows {row_a} and {row_b}: pooled seed SD {sd:.3f}; two single runs of equal mAP differ "
             f"by more than {band:.3f} one time in 20",
             f"  the report's rows, {row_a} against {row_b}: {report}"]
    if abs(shown_difference) <= band:
        conclusion = f"within what two seeds differ by chance: one seed cannot rank \"{a}\" and \"{b}\""
    elif called and (shown_difference > 0) == report.startswith("+"):
        conclusion = "beyond what two seeds differ by chance, and the report's rows differ in the same direction"
    else:
        conclusion = ("beyond what two seeds differ by chance, but the report's rows do not call this difference: "
                      "one seed at another budget does not settle it")
    return "\n".join(lines + ["  so: " + conclusion])
