"""The report's one rule (a two-sample t-test), the smallest difference it detects, the papers' effects
beside ours, and the seeds that failed: checked by hand on small fake results (no training)."""

import math

import pytest
from scipy import stats

from hashlib_tutorial.report import ablations, papers
from hashlib_tutorial.report.ablations import ablation_tables, compare, failed_list, reading, seeded_table, seeds_draw
from hashlib_tutorial.report.findings import effect_line
from hashlib_tutorial.report.papers import PAPER_EFFECTS, PAPER_MAP, PaperEffect, paper_effect
from hashlib_tutorial.report.seeds import (against_report, failed_runs, format_seeds, pooled_sd, seeds_needed,
                                           smallest_detectable, t_test, verdict)


def run(method, values_by_bits, chance=0.1, ones=None):
    """A fake report: mAP per code length, its chance level and each bit's fraction of ones."""
    return {"method": method, "protocol": "cifar10", "results": {
        str(b): {"mAP": v, "chance": chance, "train_seconds": 10.0,
                 "bit_balance": {"fraction_ones": ones if ones is not None else [0.5] * b}}
        for b, v in values_by_bits.items()}}


def seeded(label, values, bits=32, method="dpfah", **kwargs):
    """Row ``label`` at every seed: {label: seed 0, label-seed1: seed 1, ...}."""
    return {label if s == 0 else f"{label}-seed{s}": run(method, {bits: v}, **kwargs) for s, v in enumerate(values)}


def test_smallest_detectable_difference_by_hand_and_by_the_exact_power():
    # 3 seeds per row, pooled SD 0.02: df = 4, t_{0.975,4} = 2.776, t_{0.8,4} = 0.941 (printed t tables)
    by_hand = (2.776 + 0.941) * 0.02 * math.sqrt(1 / 3 + 1 / 3)
    mdd = smallest_detectable(0.02, 3, 3)
    assert mdd == pytest.approx(by_hand, abs=2e-4) and mdd == pytest.approx(0.0607, abs=1e-4)
    # the exact power of the two-sided t-test at that difference (noncentral t) is close to the 80% asked for
    for n in (3, 5, 10):
        df, sd = 2 * n - 2, 0.02
        delta = smallest_detectable(sd, n, n) / (sd * math.sqrt(2 / n))
        critical = stats.t.ppf(0.975, df)
        power = stats.nct.sf(critical, df, delta) + stats.nct.cdf(-critical, df, delta)
        assert 0.78 < power < 0.82, (n, power)
    # seeds_needed: the first n whose MDD reaches the effect
    n = seeds_needed(0.02, 0.02)
    assert smallest_detectable(0.02, n, n) <= 0.02 < smallest_detectable(0.02, n - 1, n - 1)


def test_t_test_and_verdict_by_hand():
    a, b = [0.50, 0.52, 0.54], [0.60, 0.61]
    # s_p = sqrt((2 * 0.02^2 + 1 * 0.00707^2) / 3) = 0.01683; t = 0.085 / (0.01683 sqrt(1/3 + 1/2)) = 5.53, df 3
    assert pooled_sd(a, b) == pytest.approx(math.sqrt((2 * 0.0004 + 0.00005) / 3))
    difference, p = t_test(b, a)
    assert difference == pytest.approx(0.085) and p == pytest.approx(stats.ttest_ind(b, a).pvalue)
    assert p == pytest.approx(2 * stats.t.sf(0.085 / (pooled_sd(a, b) * math.sqrt(1 / 3 + 1 / 2)), 3))
    assert verdict(b, a) == "+0.085 (t-test p = 0.012: called at 5%)"
    c = [0.53, 0.55]  # +0.020, t = 1.2, p = 0.32: not called; MDD with s_p = 0.01826 and df 3
    mdd = (stats.t.ppf(0.975, 3) + stats.t.ppf(0.8, 3)) * pooled_sd(c, a) * math.sqrt(1 / 2 + 1 / 3)
    assert verdict(c, a) == f"+0.020 (t-test p = 0.32: not called at 5%; these seeds detect differences of {mdd:.3f} or more)"
    assert verdict([0.5], [0.4, 0.41]) == "fewer than 2 seeds" and verdict([], [0.4, 0.41]) == ""
    assert verdict([0.44, 0.44], [0.45, 0.45]) == "-0.010 (t-test p < 0.001: called at 5%)"  # no spread at all


def test_a_seed_at_chance_is_shown_on_its_own_and_listed_under_what_failed():
    rows = {**seeded("admth-recipe", [0.30, 0.31, 0.29], method="admth"),
            "admth-paper-objective": run("admth", {32: 0.164}),
            "admth-paper-objective-seed1": run("admth", {32: 0.1003}, ones=[0.0] * 20 + [0.999] * 10 + [0.5] * 2),
            "admth-paper-objective-seed2": run("admth", {32: 0.16}, ones=[0.01] * 16 + [0.5] * 16),  # half constant
            **seeded("lsh", [0.105, 0.11], method="lsh")}  # random projections near chance: not a failure
    cell = format_seeds(rows, "admth-paper-objective", "32")
    assert cell == ("0.141 +- 0.036 over 3 seeds: seed 0 0.164; seed 1 0.100 (at chance, 30 of 32 bits constant); "
                    "seed 2 0.160 (16 of 32 bits constant)")
    assert format_seeds(rows, "admth-recipe", "32") == "0.300 +- 0.010 (3 seeds)"  # no failure: mean and sd alone
    assert [(label, seed) for label, seed, *_ in failed_runs(rows)] == [("admth-paper-objective", 1),
                                                                       ("admth-paper-objective", 2)]
    listed = failed_list(rows)
    assert ("- admth-paper-objective, seed 1: 32 bits mAP 0.1003 (chance 0.100), at chance, 30 of 32 bits constant"
            in listed)
    assert "lsh" not in listed and "No run" not in listed
    assert "No run is at chance" in failed_list(seeded("admth-recipe", [0.30, 0.31], method="admth"))
    table = seeded_table(rows, [("recipe", "admth-recipe", None), ("paper", "admth-paper-objective", "admth-recipe")],
                         ["32"])
    assert f"| paper | admth-paper-objective | 32 | {cell} | admth-recipe |" in table


def test_a_paper_effect_below_the_smallest_detectable_difference_cannot_be_tested(monkeypatch):
    effect = PaperEffect("DPFAH", "dpfah-simam", "dpfah-backbone", "SimAM added", "Table 5", "test", effect=0.012,
                         bits="48", protocol="cifar10, ImageNet ResNet-18")
    monkeypatch.setattr(papers, "PAPER_EFFECTS", [effect])
    rows = {**seeded("dpfah-backbone", [0.16, 0.18, 0.17]), **seeded("dpfah-simam", [0.17, 0.19, 0.18])}
    c = compare(rows, "dpfah-simam", "dpfah-backbone", "32")
    assert c.mdd == pytest.approx(smallest_detectable(0.01, 3, 3)) and c.p > 0.05
    needed = seeds_needed(0.012, 0.01)
    assert reading(c) == (f"cannot test at this budget (the paper's effect 0.012 is below the smallest difference "
                          f"3 seeds detect, {c.mdd:.3f}; about {needed} seeds per row would)")
    table = seeded_table(rows, ablations.DPFAH_TABLE5[:2], ["32"])
    assert "| +0.012 (DPFAH Table 5, at 48 bits (ours 32), cifar10, ImageNet ResNet-18) | cannot test" in table
    # the reverse direction flips the paper's sign; a large paper effect is testable
    assert paper_effect("dpfah-backbone", "dpfah-simam") == (effect, -1)
    monkeypatch.setattr(papers, "PAPER_EFFECTS", [PaperEffect(**{**effect.__dict__, "effect": 0.2})])
    assert reading(compare(rows, "dpfah-simam", "dpfah-backbone", "32")).startswith("not called, though these seeds detect")
    line = effect_line(rows, "SimAM on the backbone", "dpfah-simam", "dpfah-backbone", "32")
    assert line.startswith("- SimAM on the backbone, 32 bits: 0.180 +- 0.010 (3 seeds) against 0.170 +- 0.010 (3 seeds): "
                           "+0.010 (t-test p = 0.29); smallest difference 3 seeds detect: 0.030; the paper: +0.200 (DPFAH Table 5, at 48 bits ")


def test_every_paper_entry_has_a_number_or_says_why_not_and_names_report_rows():
    from hashlib_tutorial.report.rows import ABLATION_ROWS
    for entry in PAPER_EFFECTS:
        assert {entry.with_, entry.without} <= set(ABLATION_ROWS), entry
        assert (entry.effect is None) == bool(entry.missing), entry
        assert entry.source
    assert PAPER_MAP["dpsh"]["mAP"] == {"12": 0.7505, "24": 0.7724, "32": 0.7758, "48": 0.7828}  # the README, unrounded


def test_the_seed_redraws_the_split_and_the_note_says_so():
    assert seeds_draw("cifar10") == ["query", "train", "val", "database"]
    rows = {**seeded("dpfah-recipe", [0.40, 0.42]), **seeded("dpfah-paper-objective", [0.18, 0.17])}
    text = ablation_tables(rows)
    assert "one rule: Student's two-sample t-test" in text
    assert "Each seed of an ablation row draws its own query, train, val and database images on `cifar10`" in text


def test_against_report_sets_one_seed_against_the_report_rows_spread():
    report_rows = {**seeded("a", [0.40, 0.42, 0.41]), **seeded("b", [0.30, 0.31, 0.32])}
    band = stats.t.ppf(0.975, 4) * 0.01 * math.sqrt(2)  # s_p = 0.01
    text = against_report("A", "B", {"A": {"mAP": 0.5}, "B": {"mAP": 0.49}}, report_rows, "a", "b", "32")
    assert f"differ by more than {band:.3f} one time in 20" in text and "one seed cannot rank \"A\" and \"B\"" in text
    text = against_report("A", "B", {"A": {"mAP": 0.6}, "B": {"mAP": 0.4}}, report_rows, "a", "b", "32")
    assert text.endswith("and the report's rows differ in the same direction")


def test_a_main_row_with_several_seeds_is_reported_over_them_in_the_findings():
    from hashlib_tutorial.report.findings import findings
    rows = {}
    for seed, (value, one_view) in enumerate(((0.55, 0.53), (0.57, 0.55), (0.56, 0.54))):
        report = run("dpfah", {32: value})
        report["config"] = {"epochs": 3, "backbone": "resnet18", "backbone_kwargs": {"width": 0.25}, "attention": "simam"}
        report["results"]["32"]["mAP_one_view"] = one_view
        rows["dpfah" if seed == 0 else f"dpfah-seed{seed}"] = report
    assert ("mAP@ALL 0.560 +- 0.010 (3 seeds), one view 0.540 at 32 bits; the paper (cifar10, mAP@ALL): 0.845 at 32."
            in findings({"rows": rows}))


def test_admth_table2_rows_compare_where_the_branches_split_without_attention(tmp_path):
    from hashlib_tutorial.report.rows import BITS, row_settings
    from hashlib_tutorial.training.registry import build_method

    def config(label):
        return build_method("admth", BITS, "cpu", **row_settings(label, "cpu", tmp_path)).config

    for prefix, dataset in (("admth-", "cifar10"), ("admth-mosaic-", "cifar10-mosaic")):
        convolutions, fc = config(f"{prefix}no-se"), config(f"{prefix}split-fc")
        assert (convolutions.attention, fc.attention) == (None, None)
        assert (convolutions.branches.split_at, fc.branches.split_at) == (0, len(fc.branches.hidden))
        assert convolutions.dataset == fc.dataset == dataset
        assert {**convolutions.to_dict(), "branches": None} == {**fc.to_dict(), "branches": None}  # nothing else
    rows = {key: run("admth", {b: value for b in BITS}) for key, value in
            (("admth-recipe", 0.3), ("admth-no-se", 0.30), ("admth-no-se-seed1", 0.32),
             ("admth-split-fc", 0.28), ("admth-split-fc-seed1", 0.27))}
    text = ablation_tables(rows)
    assert "## ADMTH's Table 2 as the paper defines it: where the branches split, without attention, on `cifar10`" in text
    assert "| no attention, branches share the FC layers too | admth-split-fc | 16 | 0.275 +- 0.007 (2 seeds) | admth-no-se |" in text
    assert "on the mosaic stand-in" not in text  # its rows have not run
