"""The report's framing: one table and one set of figures per protocol, each row's machine and departures,
the rows still to train, DAH's Table 2 block and the compute behind the report (no training here)."""

import json
import subprocess

from test_reproduce import fake_report, fake_results

from hashlib_tutorial.report import compute
from hashlib_tutorial.report.departures import departures, describe_protocol, protocol_sizes
from hashlib_tutorial.report.figures import figure_specs, figures_block, write_figures
from hashlib_tutorial.report.status import unfinished, wanted_config
from hashlib_tutorial.report.tables import dah_table2, headline_table, markdown_table, report_tables
from hashlib_tutorial.training.config import resolve_config

AVX2 = {"hardware": {"cpu": "AMD EPYC", "cpu_capability": "AVX2"}, "autocast": "float32"}


def row(label, value, **provenance):
    """A report row of ``label`` with the configuration the cpu profile gives it now."""
    wanted = wanted_config(label, 0, "cpu")
    report = fake_report(wanted["method"], wanted["bits"], value)
    report.update(config=wanted, protocol=wanted["protocol"], dataset=wanted["dataset"])
    report["provenance"].update(provenance)
    return report


def section(text, heading):
    """The part of ``text`` from ``heading`` to the next heading of the same level."""
    start = text.index(heading)
    end = text.find("\n### ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_protocol_sizes_come_from_the_split_code():
    assert protocol_sizes("cifar10", "cifar10-2") == {"train": 50_000, "query": 10_000, "database": 50_000, "relation": "is"}
    assert protocol_sizes("cifar10", "cifar10") == {"train": 5_000, "query": 1_000, "database": 54_000, "relation": "excludes"}
    assert protocol_sizes("cifar10", "quick")["relation"] == "contains"
    assert protocol_sizes("cifar10-mosaic", "cifar10")["database"] == 20_000
    assert "the database is the training set" in describe_protocol("cifar10", "cifar10-2")


def test_one_table_per_protocol_with_the_papers_numbers_only_on_their_own_protocol():
    rows = {"dah": row("dah", 0.8), "dpfah": row("dpfah", 0.5), "dpfah-wide": row("dpfah-wide", 0.6, **AVX2),
            "admth-mosaic": row("admth-mosaic", 0.6)}
    text = markdown_table(fake_results(rows))
    dah, cifar10 = section(text, "### `cifar10-2` (the protocol of DAH's paper)"), section(text, "### `cifar10` (")
    mosaic = section(text, "### `cifar10-mosaic`")
    assert "50,000 training images, 10,000 queries, 50,000 database images; the database is the training set" in dah
    assert "5,000 training images, 1,000 queries, 54,000 database images; the database excludes the training" in cifar10
    assert "| dah | 48 | 0.800 |" in dah and "dpfah" not in dah and "dah |" not in cifar10
    assert "| dah | 48 | 0.800 | 0.790 |  | 0.400 | 0.700 | 0.923 |" in dah  # DAH's Table 2 beside, on cifar10-2
    assert "| dpfah | 16 | 0.500 | 0.490 |  | 0.400 | 0.700 | 0.838 |" in cifar10
    assert "paper's mAP" not in mosaic and "multi-label stand-in" in mosaic
    # departures: shared ones in the heading paragraph, the rest per row
    assert "random weights (the `paper` profile: ImageNet's); 32 px (the `paper` profile: 224 px)" in cifar10.split("| row |")[0]
    assert "random weights" not in dah and " px" not in dah  # DAH trains from scratch at 32 px in its paper
    assert "named departure `class_from_codes`" in cifar10.split("| dpfah-wide |")[1].split("\n")[0]
    # machines: per row, "not recorded" where missing
    assert "| 140 | 10 | cpu: AMD EPYC (AVX2), float32, 2 threads |" in cifar10
    del rows["dpfah"]["provenance"]
    assert "| not recorded |" in markdown_table(fake_results(rows))


def test_departures_are_read_from_the_config_and_provenance():
    dpfah = row("dpfah", 0.5)
    found = departures(dpfah)
    assert "codes averaged with the mirror image's (test_flip)" in found
    assert any(d.startswith("the CPU recipe: sgd (Nesterov) lr 0.1") and "(the `paper` profile: rmsprop lr 5e-05" in d for d in found)
    assert "autocast dtype not recorded (precision auto: bfloat16 where the CPU has it)" in found
    dpfah["provenance"]["autocast"] = "bfloat16"
    assert "bfloat16 autocast" in departures(dpfah)
    paper = {**dpfah, "config": resolve_config("dpfah", (16, 32, 48, 64), "paper").as_saved()}
    assert [d for d in departures(paper) if "autocast" not in d] == ["10% of the training images held out for validation"]
    assert departures(row("itq-features", 0.2)) == ["no training: hashes the features of row dpsh"]


def test_rows_not_trained_yet_are_listed_under_their_protocol_with_their_command():
    rows = {"dah": row("dah", 0.8), "dpfah": row("dpfah", 0.5)}
    rows["dpfah"]["config"] = {**rows["dpfah"]["config"], "epochs": 3}  # trained with other settings
    results = fake_results(rows)
    pending = unfinished(results)
    assert "dah" not in pending and pending["dpfah"][1] == "epochs 3 -> 70" and pending["dah-12"][1] == "not run"
    text = markdown_table(results, pending)
    dah, cifar10 = section(text, "### `cifar10-2`"), section(text, "### `cifar10` (")
    assert "Not trained yet under the current settings" in dah
    assert "- dah-12 (dah-12): `python -m hashlib_tutorial reproduce --profile cpu --commit --rows dah-12`" in dah
    assert "- dpfah (dpfah: epochs 3 -> 70" in cifar10 and "--rows dah-12" not in cifar10
    assert "--rows dpfah-recipe`" in cifar10  # ablations too, on their protocol
    assert "### `quick`" not in text  # no protocol without a row or a wanted row


def test_dah_table_says_what_table_2_is_and_labels_its_own_bit_balance():
    dah = row("dah", 0.8)
    dah["results"]["48"]["bit_balance"] = {"fraction_ones": [0.5, 0.25, 0.75], "mean_abs_deviation": 1 / 6}
    text = dah_table2({"dah": dah, "dpfah": row("dpfah", 0.5)})
    assert "## DAH on `cifar10-2` beside DAH's Table 2 (its mAP@ALL at 12, 24, 36, 48 bits on `cifar10-2`)" in text
    assert "not the one in DAH's Table 5" in text
    assert text.rstrip().endswith("| 0.923 | 0.700 | 123 | 0.167 | 0.33-3.00 |")  # p/(1-p) of 1/4 and 3/4
    off_protocol = {**dah, "protocol": "cifar10"}
    assert dah_table2({"dah": off_protocol}) == ""


def test_headline_names_each_rows_protocol():
    text = headline_table(fake_results({"dah": row("dah", 0.8), "dpfah": row("dpfah", 0.5)}))
    assert "| row | protocol | 16 bits | 32 bits | 48 bits | 64 bits |" in text
    assert "| dah | cifar10-2 |  |  | 0.800 |  |" in text and "| dah, paper | cifar10-2 |  |  | 0.923 |  |" in text


def test_figures_show_one_protocol_each_and_mark_the_machine(tmp_path):
    rows = {"dah": row("dah", 0.8), "dpfah": row("dpfah", 0.5), "dpfah-wide": row("dpfah-wide", 0.6, **AVX2)}
    specs = figure_specs(fake_results(rows))
    assert [s["name"] for s in specs] == [
        "cpu_cifar10-2_pr_pn_48bits.png", "cpu_cifar10-2_map_vs_bits.png", "cpu_cifar10-2_map_vs_seconds.png",
        *[f"cpu_cifar10_pr_pn_{b}bits.png" for b in (16, 32, 48, 64)], "cpu_cifar10_map_vs_bits.png",
        "cpu_cifar10_map_vs_seconds.png"]
    seconds = specs[-1]["caption"]
    assert "one marker per machine: hardware not recorded ('o'); AMD EPYC (AVX2), float32 ('s')" in seconds
    assert "the papers' numbers on their own protocol: DAH" in specs[1]["caption"]
    assert "no paper's number" not in specs[-2]["caption"] and "DPFAH" in specs[-2]["caption"]
    block = figures_block(fake_results(rows))
    assert block.count("![Figure ") == len(specs) and "(figures/cpu_cifar10_pr_pn_32bits.png)" in block
    assert "*Figure 5: precision against recall over the Hamming radius (left) and precision of the top N (right) at " \
           "32 bits on `cifar10`; rows dpfah, dpfah-wide; machine: hardware not recorded; AMD EPYC (AVX2), float32.*" in block
    small = fake_results({"dah": rows["dah"]})
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "cpu_map_vs_bits.png").write_bytes(b"an older figure set")  # removed: no spec draws it
    (tmp_path / "a" / "demo_map_vs_bits.png").write_bytes(b"another profile's")  # kept
    first, second = write_figures(small, tmp_path / "a"), write_figures(small, tmp_path / "b")
    assert [p.name for p in first] == [s["name"] for s in figure_specs(small)]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted([p.name for p in first] + ["demo_map_vs_bits.png"])
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]  # deterministic


def test_compute_counts_every_run_once_per_machine():
    def run(seconds, commit, train=None, **hardware):
        report = fake_report("dpfah", (32,), 0.5, seconds=train or seconds / 2)
        report["provenance"].update(seconds=seconds, git_commit=commit, **hardware)
        return report
    current = {"a": run(3600.0, "c2"), "b": run(1800.0, "c2", train=7200.0, **AVX2)}  # b was resumed
    versions = [{"rows": current}, {"rows": {"a": run(1800.0, "c1"), "b": run(1800.0, "c2", train=7200.0, **AVX2)}}]
    recipe = [{"row": "X", "method": "dpfah", **run(3600.0, "c1", **AVX2)},
              {"row": "Y", "method": "dpfah", **run(1800.0, "c1")},  # the same run as a's old version
              {"row": "Z", "method": "dpfah", "results": {}}]  # stopped early
    text = compute.compute_table(current, recipe, versions)
    assert "| hardware not recorded | 1.0 h (1 run) | 0.5 h (1 run) | - | 1.5 h (2 runs) |" in text
    assert "| AMD EPYC (AVX2) | 2.0 h (1 run) | - | 1.0 h (1 run) | 3.0 h (2 runs) |" in text
    assert "| all machines | 3.0 h (2 runs) | 0.5 h (1 run) | 1.0 h (1 run) | 4.5 h (4 runs) |" in text
    assert "(larger than the last invocation's): b" in text and "recipe Y (a)" in text and "(not counted): recipe Z" in text
    assert "git history not available" in compute.compute_table(current, [], None)


def test_committed_versions_reads_every_version_from_git(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)
    git("init", "-q")
    path = tmp_path / "results" / "cpu" / "results.json"
    path.parent.mkdir(parents=True)
    for seconds in (1.0, 2.0, 1.0):  # the third commit restores the first version
        path.write_text(json.dumps({"rows": {"a": {"provenance": {"seconds": seconds}}}}))
        git("add", "-A")
        git("commit", "-q", "-m", "x")
    versions = compute.committed_versions(root=tmp_path)
    assert [v["rows"]["a"]["provenance"]["seconds"] for v in versions] == [1.0, 2.0]  # newest first, each blob once
    assert compute.committed_versions(root=tmp_path.parent / "nowhere") is None


def test_the_report_has_a_compute_section_for_the_cpu_profile_only():
    results = fake_results({"dah": row("dah", 0.8)})
    assert "## Compute: every CPU-hour behind this report" in report_tables(results)
    assert "## Compute" not in report_tables({**results, "profile": "demo"})
