"""The reproduce report: rows, settings, tables and figures from a results dictionary (no training here)."""

import json
import shutil
import subprocess

import pytest

from hashlib_tutorial import course
from hashlib_tutorial.report import ablations, recipe, tables
from hashlib_tutorial.report.papers import PAPER_MAP
from hashlib_tutorial.report import reproduce as reproduce_module
from hashlib_tutorial.report.figures import figure_specs, figures_block, write_figures
from hashlib_tutorial.report.findings import findings, network
from hashlib_tutorial import PROJECT_ROOT
from hashlib_tutorial.report.reproduce import reproduce
from hashlib_tutorial.report.rows import ABLATION_ROWS, BITS, DEMO_ROWS, MAIN_ROWS, row_settings, rows_for, seed_keys
from hashlib_tutorial.report.seeds import format_mean_sd, mean_sd, seed_reports, seed_values, verdict
from hashlib_tutorial.report.tables import (BEGIN, DEMO_MARKERS, END, fill_report, headline_table, machine,
                                            markdown_table, report_tables)
from hashlib_tutorial.training.config import DPFAH_WIDE, PROFILES, resolve_config
from hashlib_tutorial.training.registry import build_method


def fake_report(method, bits, value, seconds=10.0):
    curve = {"precision": [1.0, 0.5], "recall": [0.1, 0.6]}
    config = {"epochs": 3, "backbone": "resnet18", "backbone_kwargs": {"width": 0.25}, "attention": None}
    return {"method": method, "protocol": "quick", "config": config,
            "provenance": {"device": "cpu", "threads": 2, "git_commit": "abc", "seconds": 60.0}, "results": {
        str(b): {"mAP": value, "mAP_tie_aware": value - 0.01, "precision_radius2": 0.4, "pr_curve": curve,
                 "precision_at_n": {"1": 0.9, "10": 0.8, "1000": 0.7}, "encode_us_per_image": 123.4,
                 "bit_balance": {"mean_abs_deviation": 0.05}, "train_seconds": seconds} for b in bits}}


def fake_results(rows):
    return {"profile": "cpu", "paper": PAPER_MAP, "rows": rows,
            "provenance": {"device": "cpu", "threads": 2, "seconds": 120.0, "git_commit": "abc"}}


def test_the_table_names_the_machine_of_each_row_when_rows_were_trained_on_several():
    avx2 = {"hardware": {"cpu": "AMD EPYC", "cpu_capability": "AVX2"}, "autocast": "float32"}
    dpfah, dah = fake_report("dpfah", (32,), 0.5), fake_report("dah", (48,), 0.7)
    dah["provenance"].update(avx2)
    assert machine(dah["provenance"]) == "cpu: AMD EPYC (AVX2), float32, 2 threads"
    assert machine(dpfah["provenance"]) == "cpu, 2 threads, hardware not recorded"
    table = markdown_table(fake_results({"dpfah": dpfah, "dah": dah}))  # each row's machine in its own column
    assert "| dpfah | resnet18 x0.25, no attention | 3 | 10 | cpu, 2 threads, hardware not recorded |" in table
    assert "| dah | resnet18 x0.25, no attention | 3 | 10 | cpu: AMD EPYC (AVX2), float32, 2 threads |" in table
    assert "Profile `cpu`, trained at commit abc." in table
    assert markdown_table(fake_results({"dpfah-simam": dpfah})) == ""  # ablations have their own tables


def test_table_puts_the_papers_numbers_beside_ours_and_figures_are_written(tmp_path):
    dpfah = fake_report("dpfah", (16, 32), 0.5)
    dpfah["config"].update(backbone="resnet18", backbone_kwargs={"width": 0.25}, attention="simam")
    dah = fake_report("dah", (48,), 0.7)
    dah["config"].update(backbone="dah_resnet30", backbone_kwargs={"width": 0.5}, attention="cbam")
    results = fake_results({"dpfah": dpfah, "dah-paper": dah, "itq-features": fake_report("itq", (16,), 0.3),
                            "dpfah-simam": fake_report("dpfah", (32,), 0.2),
                            "admth-mosaic": {**fake_report("admth", (16,), 0.9), "dataset": "cifar10-mosaic"}})
    table = markdown_table(results)  # one section per protocol, its sizes from the split code
    assert table.startswith("### `quick`\n\nProtocol `quick`: 5,000 training images, 500 queries, 10,000 database "
                            "images; the training images are drawn from the database.")
    assert "| dpfah | resnet18 x0.25, simam at the stem | 3 | 20 | cpu, 2 threads, hardware not recorded |" in table
    assert "| dpfah | 16 | 0.500 | 0.490 |  | 0.400 | 0.700 |\n" in table  # not the paper's protocol: no paper column
    assert "| itq-features | - | - | 10 | cpu, 2 threads, hardware not recorded | no training: hashes the pixels |" in table
    assert "### `cifar10-mosaic-quick`" in table and "multi-label stand-in for NUS-WIDE / MS-COCO" in table
    assert "dpfah-simam" not in table  # ablations have their own tables
    dpfah["protocol"] = "cifar10"  # on DPFAH's own protocol, its paper's number beside
    assert "| dpfah | 16 | 0.500 | 0.490 |  | 0.400 | 0.700 | 0.838 |" in markdown_table(results)
    dpfah["protocol"] = "quick"
    dpfah["config"]["test_flip"] = True
    dpfah["results"]["16"]["mAP_one_view"] = 0.45
    table = markdown_table(results)
    assert "| resnet18 x0.25, simam at the stem, codes averaged with the mirror image's (test_flip) | 3 | 20 |" in table
    assert "| dpfah | 16 | 0.500 (one view 0.450) | 0.490 |" in table
    headline = headline_table(results)
    assert "| row | protocol | 16 bits | 32 bits |" in headline and "| dpfah | quick | 0.500 (one view 0.450) | 0.500 |" in headline
    assert "| itq-features | quick | 0.300 |  |" in headline and "| dpfah, paper | cifar10 | 0.838 | 0.845 |" in headline
    written = write_figures({**results, "profile": "quick"}, tmp_path)
    assert [p.name for p in written] == ["quick_quick_pr_pn_16bits.png", "quick_quick_pr_pn_32bits.png",
                                         "quick_quick_pr_pn_48bits.png", "quick_quick_map_vs_bits.png",
                                         "quick_quick_map_vs_seconds.png", "quick_cifar10-mosaic-quick_pr_pn_16bits.png",
                                         "quick_cifar10-mosaic-quick_map_vs_bits.png",
                                         "quick_cifar10-mosaic-quick_map_vs_seconds.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_seed_statistics_and_verdicts_by_hand():
    rows = {"a": fake_report("dpfah", (32,), 0.50), "a-seed1": fake_report("dpfah", (32,), 0.52),
            "a-seed2": fake_report("dpfah", (32,), 0.54), "ab": fake_report("dpfah", (32,), 0.1),
            "b": fake_report("dpfah", (32,), 0.60), "b-seed1": fake_report("dpfah", (32,), 0.61),
            "c": fake_report("dpfah", (32,), 0.53), "c-seed1": fake_report("dpfah", (32,), 0.55)}
    assert [r["results"]["32"]["mAP"] for r in seed_reports(rows, "a")] == [0.50, 0.52, 0.54]  # not "ab"
    mean, sd = mean_sd(seed_values(rows, "a", "32"))
    assert mean == pytest.approx(0.52) and sd == pytest.approx(0.02)  # sqrt((0.02^2 + 0 + 0.02^2) / 2)
    assert format_mean_sd([0.50, 0.52, 0.54]) == "0.520 +- 0.020 (3 seeds)"
    assert format_mean_sd([]) == "not run"
    # the t-test of report.seeds (tests/test_report_power.py checks it by hand): b - a called, c - a not
    assert verdict(seed_values(rows, "b", "32"), seed_values(rows, "a", "32")) == "+0.085 (t-test p = 0.012: called at 5%)"
    assert verdict(seed_values(rows, "c", "32"), seed_values(rows, "a", "32")) == \
        "+0.020 (t-test p = 0.32: not called at 5%; these seeds detect differences of 0.069 or more)"
    assert verdict([0.5], [0.4, 0.41]) == "fewer than 2 seeds"


def test_report_tables_show_seeded_ablations_timings_and_missing_rows():
    rows = {"dah": fake_report("dah", (48,), 0.9), "dah-12": fake_report("dah", (12,), 0.6),
            "dah-recipe": fake_report("dah", (48,), 0.5), "dah-recipe-seed1": fake_report("dah", (48,), 0.52),
            "dah-no-cbam": fake_report("dah", (48,), 0.55), "dah-no-cbam-seed1": fake_report("dah", (48,), 0.57),
            "dpfah-backbone": fake_report("dpfah", (32,), 0.4),
            **{key: fake_report("admth", BITS, 0.45, seconds=100.0) for key in ("admth-recipe", "admth-recipe-seed1")},
            **{f"admth-single-{b}{s}": fake_report("admth", (b,), 0.44, seconds=50.0) for b in BITS
               for s in ("", "-seed1")},
            **{f"admth-single-{b}-no-se{s}": fake_report("admth", (b,), 0.43) for b in BITS for s in ("", "-seed1")}}
    text = report_tables(fake_results(rows))
    assert "## Compute: every CPU-hour behind this report" in text  # DAH's Table 2 block: tests/test_report_tables.py
    assert "| DAH (CBAM, DAH's loss) | dah-recipe | 48 | 0.510 +- 0.014 (2 seeds) |  |  |  |  |  |" in text
    assert ("| NoneA-DAH (no CBAM) | dah-no-cbam | 48 | 0.560 +- 0.014 (2 seeds) | dah-recipe | +0.050 (p = 0.072) | "
            "0.076 | -0.004 (DAH NoneA-DAH comparison, at 12-48 bits (ours 48), cifar10-2, DAH's ResNet-30) | cannot "
            "test at this budget (the paper's effect 0.004 is below the smallest difference 2 seeds detect, 0.076; "
            "about 198 seeds per row would) |") in text
    assert "| DPSH's loss, same network | dah-dpsh-loss | 48 | not run | dah-recipe |  |  |  |  |" in text
    assert "| + SimAM at the stem | dpfah-simam | 32 | not run | dpfah-backbone |  |  |  |  |" in text
    assert ("| single-length run, 16 bits | admth-single-16 | 16 | 0.440 +- 0.000 (2 seeds) | admth-recipe | "
            "-0.010 (p < 0.001) | 0.000 | not typed (ADMTH: a figure) | called at 5% |") in text  # no spread at all
    # ADMTH's figure: single-length models without SE, against ADMTH and against its multi-length run without SE
    assert ("| single-length run without SE, 16 bits | admth-single-16-no-se | 16 | 0.430 +- 0.000 (2 seeds) | "
            "admth-recipe | -0.020 (p < 0.001) | 0.000 | not typed (ADMTH: a figure) | called at 5% |") in text
    assert ("| single-length run without SE, 16 bits | admth-single-16-no-se | 16 | 0.430 +- 0.000 (2 seeds) | "
            "admth-no-se |  |  |  |  |") in text  # admth-no-se has not run
    assert "one multi-length run 100 +- 0 (2 seeds), four single-length runs 200 +- 0 (2 seeds) (ratio 0.50)" in text
    # the findings: numbers and directions written from the rows
    assert ("- **dah** (quick, resnet18 x0.25, no attention, 3 epochs, 0 min of training per model): mAP@ALL 0.900 at 48 bits; "
            "the paper (cifar10-2, mAP@ALL): 0.923 at 48.") in text
    assert ("- CBAM in DAH (DAH against NoneA-DAH), 48 bits: 0.510 +- 0.014 (2 seeds) against 0.560 +- 0.014 (2 seeds): "
            "-0.050 (t-test p = 0.072); smallest difference 2 seeds detect: 0.076; the paper: +0.004 (DAH NoneA-DAH "
            "comparison, at 12-48 bits (ours 48), cifar10-2, DAH's ResNet-30); cannot test at this budget (the paper's "
            "effect 0.004 is below the smallest difference 2 seeds detect, 0.076; about 198 seeds per row would).") in text
    assert "- Training ADMTH's four lengths at once took 0.50 of the time of four single-length runs (the paper: 0.33)." in text
    assert "SimAM at DPFAH's stem" not in text  # neither row ran


def test_rows_per_profile_and_their_settings(tmp_path):
    assert list(rows_for("quick")) == list(MAIN_ROWS)
    assert set(ABLATION_ROWS) <= set(rows_for("cpu"))
    assert {"dpfah", "dah", "admth"} <= set(rows_for("demo")) <= set(MAIN_ROWS)  # every paper's model
    assert row_settings("dpfah", "demo", tmp_path) == {}  # the profile says it all
    demo, quick = build_method("dpfah", 32, "demo").config, build_method("dpfah", 32, "quick").config
    assert demo.epochs < quick.epochs and {**demo.to_dict(), "epochs": 0} == {**quick.to_dict(), "epochs": 0,
                                                                                 "profile": "demo"}
    assert row_settings("itq-features", "cpu", tmp_path) == {"input_features": f"{tmp_path}/dpsh"}
    assert all(len(row.seeds) >= 3 for row in ABLATION_ROWS.values())
    assert seed_keys("dah-no-cbam", ABLATION_ROWS["dah-no-cbam"]) == ["dah-no-cbam", "dah-no-cbam-seed1",
                                                                      "dah-no-cbam-seed2"]
    assert row_settings("dah-no-cbam", "cpu", tmp_path, seed=2)["seed"] == 2
    # every row builds a valid method under every profile (catches a typo in an override)
    for profile in PROFILES:
        for label, row in rows_for(profile).items():
            for b in ([row.bits] if row.method == "admth" else row.bits):
                build_method(row.method, b, profile, **row_settings(label, profile, tmp_path))
    # DAH's report rows: its own protocol on the CPU network at every length, and DAH as published (the
    # paper profile's settings and nothing of the CPU recipe); its ablations: the quick network on cifar10
    dah = build_method("dah", 48, "cpu").config
    published = build_method("dah", 48, "cpu", **row_settings("dah-paper", "cpu", tmp_path)).config
    assert (dah.protocol, dah.backbone, dah.attention) == ("cifar10-2", "resnet18", "cbam")
    assert network({"method": "dah", "config": dah.to_dict()}) == \
        "resnet18 x0.5, cbam in every block, codes averaged with the mirror image's (test_flip)"
    for k in (12, 24, 36):
        assert build_method("dah", k, "cpu", **row_settings(f"dah-{k}", "cpu", tmp_path)).config.to_dict() == \
            {**dah.to_dict(), "bits": (k,)}
    paper = resolve_config("dah", (48,), "paper")
    differs = {k for k, v in published.to_dict().items() if v != paper.to_dict()[k]}
    assert differs == {"profile", "epochs", "eval_every"}, differs  # nothing of the CPU recipe leaks in
    # DPFAH's larger-budget row: the cpu profile at half width, twice the epochs, the class branch on the codes
    dpfah = build_method("dpfah", 32, "cpu").config
    wide = build_method("dpfah", 32, "cpu", **row_settings("dpfah-wide", "cpu", tmp_path)).config
    assert (wide.backbone_kwargs, wide.epochs, wide.departures) == \
        ({**dpfah.backbone_kwargs, "width": 0.5}, 2 * dpfah.epochs, ("class_from_codes",))
    assert {**wide.to_dict(), **DPFAH_WIDE} == {**dpfah.to_dict(), **DPFAH_WIDE}
    assert network({"method": "dpfah", "config": wide.to_dict()}) == \
        "resnet18 x0.5, simam at the stem, class branch on the codes, codes averaged with the mirror image's (test_flip)"
    recipe = build_method("dah", 48, "cpu", **row_settings("dah-recipe", "cpu", tmp_path)).config
    quick_dah = build_method("dah", 48, "quick").config
    assert (recipe.protocol, recipe.backbone, recipe.backbone_kwargs) == ("cifar10", "resnet18", quick_dah.backbone_kwargs)
    loss_ablation = build_method("dpsh", 48, "cpu", **row_settings("dah-dpsh-loss", "cpu", tmp_path)).config
    assert (loss_ablation.backbone_kwargs, loss_ablation.attention, loss_ablation.epochs, loss_ablation.loss_weights) \
        == (recipe.backbone_kwargs, "cbam", recipe.epochs, {"eta": 0.1})
    paper = build_method("dah", 48, "cpu", **row_settings("dah-paper-objective", "cpu", tmp_path)).config
    assert (paper.departures, paper.optimizer, paper.loss_weights, paper.epochs) == ((), "adam", {"class": 1.0},
                                                                                    recipe.epochs)
    with pytest.raises(ValueError, match="unknown rows"):
        reproduce("demo", tmp_path, methods=["dpfah-simam"])  # an ablation is not a demo row
    with pytest.raises(ValueError, match="unknown profile"):
        reproduce("fast", tmp_path)


def fake_training(monkeypatch) -> list[str]:
    """reproduce's train and figures replaced: each run returns a report of its settings and its own
    provenance; the list returned fills with the rows trained."""
    trained = []

    def fake_train(method, bits, run_dir, profile, **kwargs):
        trained.append(run_dir.name)
        config = {**build_method(method, bits if method == "admth" else bits[0], profile, **{
            k: v for k, v in kwargs.items() if k not in ("resume", "command")}).config.as_saved(), "bits": list(bits)}
        report = {**fake_report(method, bits, 0.5), "config": config}
        report["provenance"] = {**report["provenance"], "git_commit": f"run {len(trained)}"}
        return report

    monkeypatch.setattr(reproduce_module, "train", fake_train)
    monkeypatch.setattr(reproduce_module, "write_figures", lambda *a: [])
    return trained


def test_reproduce_reads_back_rows_with_their_settings_and_trains_only_the_rest(tmp_path, monkeypatch):
    trained = fake_training(monkeypatch)
    reproduce("demo", tmp_path)
    assert trained == list(DEMO_ROWS)
    trained.clear()
    path = tmp_path / "demo" / "results.json"
    provenance = json.loads(path.read_text())["provenance"]
    reproduce("demo", tmp_path, command="reproduce --no-train")  # everything is in results.json: nothing trains
    assert trained == []
    assert json.loads(path.read_text())["provenance"] == provenance  # still that of the run that trained
    results = json.loads(path.read_text())
    results["rows"]["dah"]["config"]["epochs"] += 1  # trained with other settings than the row has now
    path.write_text(json.dumps(results))
    writes = []
    monkeypatch.setattr(reproduce_module, "_write", lambda results, *a: writes.append(list(results["rows"])) or [])
    reproduce("demo", tmp_path)
    assert trained == ["dah"]
    assert writes[0] == list(DEMO_ROWS)  # the write after the one row trained keeps every row read back


def test_a_row_hashing_another_rows_features_trains_again_whenever_that_row_does(tmp_path, monkeypatch):
    trained = fake_training(monkeypatch)
    reproduce("quick", tmp_path, methods=["dpsh", "itq-features"])
    assert trained == ["dpsh", "itq-features"]
    trained.clear()
    reproduce("quick", tmp_path, methods=["dpsh"])  # both finished: nothing trains
    assert trained == []
    path = tmp_path / "quick" / "results.json"
    results = json.loads(path.read_text())
    results["rows"]["dpsh"]["config"]["epochs"] += 1  # dpsh trains again, so the features ITQ hashed are gone
    path.write_text(json.dumps(results))
    reproduce("quick", tmp_path, methods=["dpsh"])
    assert trained == ["dpsh", "itq-features"]
    trained.clear()
    results = json.loads(path.read_text())
    results["rows"]["dpsh"]["provenance"]["git_commit"] = "trained again by an earlier invocation"
    path.write_text(json.dumps(results))
    reproduce("quick", tmp_path, methods=["dpsh"])  # dpsh is finished: only the features row trains
    assert trained == ["itq-features"]


def test_course_reuses_a_run_only_when_its_configuration_matches(tmp_path, monkeypatch):
    monkeypatch.setattr(course, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(course, "CHECKPOINTS", tmp_path / "checkpoints")  # none committed here
    monkeypatch.setenv("HASHLIB_PROFILE", "quick")
    wanted = json.loads(json.dumps(course.course_config("dpfah", 32).to_dict()))
    run = tmp_path / "results" / "quick" / "runs" / "dpfah"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({**wanted, "bits": [16, 32]}))
    (run / "metrics.json").write_text(json.dumps({"results": {"16": {}, "32": {}}}))
    assert course.course_run("dpfah", 32) == run  # the reproduce run, no training
    older = {k: v for k, v in wanted.items() if k != "test_flip"}  # saved before test_flip existed: its default
    (run / "config.json").write_text(json.dumps({**older, "bits": [16, 32]}))
    assert course.course_run("dpfah", 32) == run
    (run / "config.json").write_text(json.dumps({**wanted, "bits": [16, 32], "epochs": wanted["epochs"] + 1}))
    trained = []
    monkeypatch.setattr(course, "train", lambda method, bits, run_dir, *a, **k: trained.append(run_dir))
    stale = course.course_run("dpfah", 32)
    assert stale != run and stale.parent == tmp_path / "runs" / "course" and trained == [stale]
    assert course.course_run("dpfah", 32, attention=None) != stale  # another configuration, another folder
    monkeypatch.setenv("HASHLIB_PROFILE", "fast")
    with pytest.raises(ValueError, match="HASHLIB_PROFILE"):
        course.course_profile()
    monkeypatch.delenv("HASHLIB_PROFILE")
    assert course.course_profile() == "quick"  # the committed checkpoints' profile, with or without a GPU


def test_fill_report_replaces_only_the_generated_block(tmp_path):
    report = tmp_path / "REPRODUCTION.md"
    report.write_text(f"# Report\n\nprose before\n\n{BEGIN}\nold tables\n{END}\n\nprose after\n")
    results = fake_results({"dpfah": fake_report("dpfah", (32,), 0.5)})
    fill_report(report, results)
    text = report.read_text()
    assert text.startswith("# Report\n\nprose before\n\n") and text.endswith(f"{END}\n\nprose after\n")
    assert "old tables" not in text and report_tables(results) in text
    report.write_text("no markers")
    with pytest.raises(ValueError, match="no"):
        fill_report(report, results)


def test_committed_report_matches_committed_results():
    from pathlib import Path

    results = PROJECT_ROOT / "results" / "cpu" / "results.json"
    if not results.exists():
        pytest.skip("no results/cpu/results.json")
    results = json.loads(results.read_text())
    assert report_tables(results) in Path(PROJECT_ROOT / "REPRODUCTION.md").read_text()
    # every figure of the committed results is committed, and embedded with its caption
    assert figures_block(results) in Path(PROJECT_ROOT / "REPRODUCTION.md").read_text()
    tracked = subprocess.run(["git", "ls-files", "figures/cpu_*"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert sorted(f"figures/{spec['name']}" for spec in figure_specs(results)) == sorted(tracked.stdout.split())
    assert headline_table(results) in Path(PROJECT_ROOT / "README.md").read_text()
    demo = json.loads((PROJECT_ROOT / "results" / "demo" / "results.json").read_text())
    readme = Path(PROJECT_ROOT / "README.md").read_text()
    assert readme.index(DEMO_MARKERS[0]) < readme.index(headline_table(demo)) < readme.index(DEMO_MARKERS[1])


def test_every_committed_row_was_trained_with_the_settings_its_row_has_now(tmp_path, monkeypatch):
    # a profile change that alters rows must retrain them: --no-train would drop them from the report
    (tmp_path / "cpu").mkdir()
    shutil.copy(PROJECT_ROOT / "results" / "cpu" / "results.json", tmp_path / "cpu" / "results.json")
    monkeypatch.setattr(reproduce_module, "write_figures", lambda *a: [])
    committed = json.loads((tmp_path / "cpu" / "results.json").read_text())["rows"]
    kept = reproduce("cpu", tmp_path, train_missing=False)["rows"]
    assert list(kept) == list(committed)


def test_recipe_table_writes_each_row_as_one_change_and_matches_the_committed_report():
    base = json.loads(json.dumps(build_method("dpfah", 32, "quick").config.to_dict()))  # as config.json stores it
    first = {"method": "dpfah", "row": "A", "change": "fewer epochs", "base": None, "config": {**base, "epochs": 5},
             "validation_mAP": {"32bits": {"5": 0.25}}, "provenance": {"device": "cpu", "threads": 1},
             "results": {"32": {"mAP": 0.2, "train_seconds": 10.0, "chance": 0.1}}}
    second = {"method": "dpfah", "row": "B", "change": "A at lr 0.05", "base": "A",
              "config": {**base, "epochs": 5, "lr": 0.05}, "validation_mAP": {"32bits": {"3": 0.125}}, "stopped_at_epoch": 3}
    table = recipe.recipe_table({"rows": [first, second]})
    assert "`python -m hashlib_tutorial train --method dpfah --bits 32 --protocol quick --set 'epochs=5'`" in table
    assert "| B | A at lr 0.05 | row A + `--set 'lr=0.05'` | 5 | stopped at epoch 3 |" in table
    assert "| 0.200 | 10 | cpu, 1 thread, hardware not recorded | 5: 0.250 |" in table
    committed = json.loads((PROJECT_ROOT / "results" / "recipe.json").read_text())
    assert recipe.recipe_table(committed) in (PROJECT_ROOT / "REPRODUCTION.md").read_text()


def test_checkpoints_come_first_keep_only_the_small_files_and_retrain_on_request(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(course, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(course, "CHECKPOINTS", tmp_path / "checkpoints")
    monkeypatch.setenv("HASHLIB_PROFILE", "quick")
    monkeypatch.setattr(course, "COURSE_RUNS", (("dpfah", (32,), "cifar10", {}),))
    wanted = json.loads(json.dumps(course.course_config("dpfah", 32).to_dict()))

    def fake_train(method, bits, run_dir, *args, mAP=0.5, **kwargs):  # the files a real run writes
        (run_dir / "32bits").mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "splits.npz", "32bits/best.pt", "32bits/checkpoint.pt", "32bits/history.json"):
            (run_dir / name).write_text(json.dumps(wanted) if name == "config.json" else "x")
        (run_dir / "metrics.json").write_text(json.dumps({"results": {"32": {"mAP": mAP}}}))

    monkeypatch.setattr(course, "train", fake_train)
    monkeypatch.setattr(course, "check_weights", lambda run_dir: None)  # the fake weights are text (see test_bad_outputs)
    [saved] = course.save_checkpoints()
    assert saved.parent == tmp_path / "checkpoints" / "quick"
    assert sorted(str(p.relative_to(saved)) for p in saved.rglob("*") if p.is_file()) == [
        "32bits/best.pt", "32bits/history.json", "config.json", "metrics.json", "splits.npz"]
    assert "mAP 0.500" in capsys.readouterr().out
    monkeypatch.setattr(course, "train", lambda *a, **k: pytest.fail("trained although a checkpoint exists"))
    assert course.course_run("dpfah", 32) == saved
    shutil.rmtree(tmp_path / "runs")  # a retrain trains again, and replaces the committed copy
    monkeypatch.setattr(course, "train", lambda *a, **k: fake_train(*a, mAP=0.625, **k))
    assert course.save_checkpoints(retrain=True) == [saved]
    assert "mAP 0.625 (committed: 0.500)" in capsys.readouterr().out
    assert json.loads((saved / "metrics.json").read_text())["results"]["32"]["mAP"] == 0.625


def test_admth_findings_give_one_chance_level_when_every_length_shares_it():
    def row(chances):
        return {"config": {"epochs": 5}, "results": {str(b): {"mAP": 0.5, "chance": c} for b, c in zip((16, 32), chances)}}
    text = findings({"rows": {"admth-mosaic": {**row((0.378, 0.378)), "dataset": "cifar10-mosaic"},
                              "admth": row((0.1, 0.125))}})
    assert "at 16/32 bits (chance 0.378)." in text and "(chance 0.100-0.125)." in text


def test_paper_faithful_rows_are_named_by_what_they_restore():
    assert ablations._paper_faithful("dpfah") == "the paper's objective and optimiser"  # RMSProp 5e-5
    assert ablations._paper_faithful("admth") == "the paper's objective"  # keeps the CPU recipe's SGD
