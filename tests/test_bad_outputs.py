"""What the commands write and read back (issue 27, items 3, 5, 9, 10, 11, 12, 14): outputs go only where
``--out`` says, derived files are checked against what they derive from, inputs are read right, and the
committed generated files are current with the code.

Each case runs the command in-process and checks its exit status, that a refusal is one line on stderr
(no traceback), and that every file that existed before is byte-identical after. The tiny DAH run of
tests/test_bad_input.py is trained once for the module; reproduce runs with the fake training of
tests/test_reproduce.py.
"""

import hashlib
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_bad_input import Env, snapshot, trained, truncate, write, write_images  # noqa: F401 (trained: a fixture)
from test_reproduce import fake_training

from hashlib_tutorial import PROJECT_ROOT, course
from hashlib_tutorial import search as search_module
from hashlib_tutorial.__main__ import main
from hashlib_tutorial.data.datasets import read_rgb
from hashlib_tutorial.data.splits import load_splits
from hashlib_tutorial.report import reproduce as reproduce_module
from hashlib_tutorial.report.figures import write_figures
from hashlib_tutorial.report.rows import DEMO_ROWS
from hashlib_tutorial.training.runs import git_commit


def run(argv: list, capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one command, run in-process; never a traceback."""
    capsys.readouterr()
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def refused(argv: list, capsys, folders: tuple[Path, ...], words: tuple[str, ...], absent: tuple[str, ...] = ()) -> str:
    """Run ``argv``: exit status 1, one line on stderr holding every word and none of ``absent``, and no file
    under ``folders`` written, changed or deleted. Returns the line."""
    before = snapshot(*folders)
    code, out, err = run(argv, capsys)
    assert code == 1, out + err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    for word in absent:
        assert word not in err, err
    assert snapshot(*folders) == before
    return err.strip()


def unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    """Every file of ``before`` is in ``after``, byte-identical (new files are allowed)."""
    assert {path: after.get(path) for path in before} == before


def encode_argv(run_dir: Path, images: Path, out: Path) -> list:
    return ["encode", "--run", run_dir, "--images", images, "--out", out]


def search_argv(codes: Path, query: Path) -> list:
    return ["search", "--codes", codes, "--query", query]


def retrained(best: Path) -> None:
    """best.pt as a run trained again would leave it: the same model and settings, other weights."""
    saved = torch.load(best, weights_only=True)
    saved["model"] = {name: value + 0.01 if value.is_floating_point() else value for name, value in saved["model"].items()}
    torch.save(saved, best)


# ------------------------------------------------------------------ 3: outputs go where --out says
def test_reproduce_elsewhere_writes_its_figures_under_its_out_and_never_over_the_tracked_ones(
        tmp_path, monkeypatch, capsys):
    trained_rows = fake_training(monkeypatch)
    monkeypatch.setattr(reproduce_module, "write_figures", write_figures)  # the real figures, this time
    before = snapshot(PROJECT_ROOT / "figures", PROJECT_ROOT / "results", PROJECT_ROOT / "README.md")
    code, out, err = run(["reproduce", "--profile", "demo", "--out", tmp_path, "--rows", "lsh"], capsys)
    assert code == 0, err
    assert trained_rows == ["lsh"]
    assert snapshot(PROJECT_ROOT / "figures", PROJECT_ROOT / "results", PROJECT_ROOT / "README.md") == before
    assert sorted(p.name for p in (tmp_path / "demo" / "figures").iterdir()) == [
        f"demo_quick_pr_pn_{b}bits.png" for b in (16, 32, 48, 64)]


# ------------------------------------------------------------ 5: codes files carry their weights
@pytest.mark.parametrize("change,words", [
    ("retrained", ("trained again", "encode the images again")),
    ("no fingerprint", ("no fingerprint", "encode the images again")),
])
def test_search_refuses_codes_of_other_weights_than_the_runs(change, words, trained, tmp_path, capsys):
    data, run_dir = trained
    shutil.copytree(run_dir, tmp_path / "run")
    codes, query = tmp_path / "codes.npz", next((data / "test" / "cats").glob("*.png"))
    assert run(encode_argv(tmp_path / "run", data / "test", codes), capsys)[0] == 0
    if change == "retrained":
        retrained(tmp_path / "run" / "8bits" / "best.pt")
    else:  # as an encode that recorded no fingerprint wrote it
        with np.load(codes) as saved:
            np.savez(codes, **{name: saved[name] for name in ("codes", "paths", "run", "bits")})
    refused(search_argv(codes, query), capsys, (tmp_path, run_dir, data), words)


def test_search_with_the_runs_own_weights_finds_the_query_at_distance_0(trained, tmp_path, capsys):
    data, run_dir = trained
    codes, query = tmp_path / "codes.npz", next((data / "test" / "cats").glob("*.png"))
    assert run(encode_argv(run_dir, data / "test", codes), capsys)[0] == 0
    assert str(np.load(codes)["weights"]) == hashlib.sha256((run_dir / "8bits" / "best.pt").read_bytes()).hexdigest()
    code, out, err = run(search_argv(codes, query) + ["-k", "8"], capsys)
    assert code == 0 and f"d=  0  {query}" in out, out + err  # the query itself, among its ties


# --------------------------------------------------------- 9: messages that name the right file
@pytest.mark.parametrize("codes_file", ["splits.npz", "truncated codes", "text"])
def test_search_never_calls_a_file_it_cannot_read_safe_to_delete(codes_file, trained, tmp_path, capsys):
    data, run_dir = trained
    codes = {"splits.npz": lambda: run_dir / "splits.npz", "text": lambda: write(tmp_path / "codes.npz")}.get(codes_file)
    if codes is None:
        assert run(encode_argv(run_dir, data / "test", tmp_path / "codes.npz"), capsys)[0] == 0
        codes = lambda: truncate(tmp_path / "codes.npz")  # noqa: E731
    line = refused(search_argv(codes(), next((data / "test" / "cats").glob("*.png"))), capsys, (tmp_path, run_dir),
                   ("not a codes file written by encode", "encode"), absent=("safe to delete",))
    assert str(codes()) in line


@pytest.mark.parametrize("below", ["notes.txt/codes.npz", "notes.txt/sub/codes.npz"])
def test_encode_out_below_a_file_is_refused_before_encoding_anything(below, trained, tmp_path, monkeypatch, capsys):
    data, run_dir = trained
    write(tmp_path / "notes.txt")
    monkeypatch.setattr(search_module, "binary_codes", lambda *a, **k: pytest.fail("encoded before checking --out"))
    refused(encode_argv(run_dir, data / "test", tmp_path / below), capsys, (tmp_path, run_dir),
            ("--out", "notes.txt", "is a file, not a folder"), absent=("Errno",))


def test_a_cifar_cache_from_a_partial_extraction_names_the_cache_and_how_to_rebuild_it(trained, tmp_path, capsys):
    data, run_dir = trained
    for split, n in (("train", 6), ("test", 2)):  # the folder as extracted now: 8 images
        for i in range(n):
            folder = tmp_path / "cifar10" / split / ["airplane", "bird"][i % 2]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    cache = tmp_path / "cifar10" / "cifar10_uint8.npz"  # written when only 3 of them were there
    np.savez(cache, images=np.zeros((3, 32, 32, 3), np.uint8), labels=np.array([0, 1, 0]),
             class_names=np.array(["airplane", "bird"]), n_train=np.array(2))
    argv = Env(run_dir, data, tmp_path, None).train(tmp_path / "new", "--method", "lsh", "--dataset", "cifar10",
                                                    "--protocol", "quick", "--data-dir", tmp_path)
    refused(argv, capsys, (tmp_path,), (str(cache), "partial extraction", "delete it", "rebuilds it"),
            absent=("smaller protocol",))


def test_itq_with_more_bits_than_training_images_is_one_line_of_ours(trained, tmp_path, capsys):
    data, run_dir = trained
    argv = Env(run_dir, data, tmp_path, None).train(tmp_path / "new", "--method", "itq", "--bits", "64")
    before = snapshot(data, run_dir)
    code, out, err = run(argv, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    for word in ("itq", "64 bits", "training images", "--bits"):
        assert word in err, err
    assert "n_components" not in err and "svd_solver" not in err, err
    unchanged(before, snapshot(data, run_dir))


# -------------------------------------------------- 10: checkpoints verifies every weight file
def commit_checkpoint(trained, tmp_path: Path, monkeypatch) -> Path:
    """The tiny run as the project's one course run, committed into tmp_path/checkpoints by ``checkpoints``."""
    data, run_dir = trained
    monkeypatch.setattr(course, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(course, "CHECKPOINTS", tmp_path / "checkpoints")
    monkeypatch.setenv("HASHLIB_PROFILE", "quick")
    monkeypatch.setattr(course, "COURSE_RUNS", (("dah", (8,), "folder", {"epochs": 1, "batch_size": 8,
                                                                          "data_dir": str(data)}),))
    monkeypatch.setattr(course, "train", lambda method, bits, out, *a, **k: shutil.copytree(run_dir, out))
    [saved] = course.save_checkpoints()
    return saved


@pytest.mark.parametrize("damage,words", [
    ("truncated", ("best.pt", "damaged", "git checkout", "--retrain")),
    ("garbage", ("best.pt", "damaged", "--retrain")),
    ("missing", ("best.pt", "missing", "--retrain")),
    ("another model", ("best.pt", "does not fit the model", "--retrain")),
    ("other weights", ("best.pt", "not the weights metrics.json", "--retrain")),
])
def test_checkpoints_refuses_a_committed_weight_file_that_does_not_load_or_match(
        damage, words, trained, tmp_path, monkeypatch, capsys):
    saved = commit_checkpoint(trained, tmp_path, monkeypatch)
    best = saved / "8bits" / "best.pt"
    if damage == "truncated":
        truncate(best)
    elif damage == "garbage":
        best.write_bytes(b"\x80\x02garbage" * 50)
    elif damage == "missing":
        best.unlink()
    elif damage == "another model":
        weights = torch.load(best, weights_only=True)
        weights["model"].pop(next(iter(weights["model"])))
        torch.save(weights, best)
    else:
        retrained(best)
    shutil.rmtree(tmp_path / "runs")  # a later call finds the committed copy only
    refused(["checkpoints"], capsys, (tmp_path,), words)


def test_checkpoints_records_the_weights_and_accepts_a_sound_copy(trained, tmp_path, monkeypatch, capsys):
    saved = commit_checkpoint(trained, tmp_path, monkeypatch)
    recorded = json.loads((saved / "metrics.json").read_text())["provenance"]["weights_sha256"]
    assert recorded == {"8bits/best.pt": hashlib.sha256((saved / "8bits" / "best.pt").read_bytes()).hexdigest()}
    before = snapshot(tmp_path)
    code, out, err = run(["checkpoints"], capsys)
    assert code == 0 and "mAP" in out, err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------- 11: encode reads inputs right
def encode_codes(run_dir: Path, images: Path, out: Path, capsys) -> np.ndarray:
    code, stdout, err = run(encode_argv(run_dir, images, out), capsys)
    assert code == 0, err
    with np.load(out) as saved:
        return saved["codes"][np.argsort(saved["paths"])]


def gradient(size: int = 32) -> np.ndarray:
    """A grey ramp in [0, 1], different along each axis."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    return 0.25 + 0.5 * (0.7 * x + 0.3 * y)


@pytest.mark.parametrize("kind", ["16-bit PNG", "float TIFF"])
def test_high_bit_depth_images_are_scaled_to_8_bits_not_clipped(kind, trained, tmp_path, capsys):
    data, run_dir = trained
    grey = gradient()
    eight = np.round(grey * 255).astype(np.uint8)
    for folder in ("deep", "eight"):
        (tmp_path / folder).mkdir()
    Image.fromarray(eight).save(tmp_path / "eight" / "image.png")
    if kind == "16-bit PNG":
        Image.fromarray(np.round(grey * 65535).astype(np.uint16)).save(tmp_path / "deep" / "image.png")
    else:
        Image.fromarray(grey.astype(np.float32)).save(tmp_path / "deep" / "image.tif")
    deep_file = next((tmp_path / "deep").iterdir())
    assert Image.open(deep_file).mode in ("I;16", "I", "F")
    rgb = read_rgb(deep_file, 32)
    assert rgb.dtype == np.uint8 and np.abs(rgb.astype(int) - eight[..., None]).max() <= 1  # not white, not black
    before = snapshot(data, run_dir)
    deep = encode_codes(run_dir, tmp_path / "deep", tmp_path / "deep.npz", capsys)
    assert np.array_equal(deep, encode_codes(run_dir, tmp_path / "eight", tmp_path / "eight.npz", capsys))
    unchanged(before, snapshot(data, run_dir))


def test_encode_follows_symlinked_subfolders_once(trained, tmp_path, capsys):
    data, run_dir = trained
    (tmp_path / "photos").mkdir()
    shutil.copytree(data / "test" / "cats", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tmp_path / "photos" / "cats")
    os.symlink(tmp_path / "photos", tmp_path / "photos" / "cats" / "loop")  # a cycle is followed once
    shutil.copy(next((data / "test" / "dogs").glob("*.png")), tmp_path / "photos" / "dog.png")
    before = snapshot(data, run_dir, tmp_path / "elsewhere")
    code, out, err = run(encode_argv(run_dir, tmp_path / "photos", tmp_path / "codes.npz"), capsys)
    assert code == 0, err
    assert "wrote 5 codes" in out  # 4 cats behind the link, 1 dog
    unchanged(before, snapshot(data, run_dir, tmp_path / "elsewhere"))


def test_an_empty_class_folder_is_not_a_class(trained, tmp_path, capsys):
    data, run_dir = trained
    shutil.copytree(data, tmp_path / "data")
    (tmp_path / "data" / "train" / "zebras").mkdir()  # made by hand, never filled
    (tmp_path / "data" / "test" / "zebras").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = load_splits("folder", data_dir=tmp_path / "data")
    assert splits.class_names == ["cats", "dogs"] and splits.num_classes == 2
    assert [str(w.message) for w in caught if "zebras" in str(w.message)], [str(w.message) for w in caught]
    before = snapshot(tmp_path / "data")
    argv = Env(run_dir, tmp_path / "data", tmp_path, None).train(tmp_path / "new", "--method", "lsh")
    code, out, err = run(argv, capsys)
    assert code == 0 and "mAP" in out, err
    assert [line for line in err.splitlines() if "zebras" in line and "not counted as a class" in line], err
    unchanged(before, snapshot(tmp_path / "data"))


# ---------------------------------------------- 12: committed generated files are current
def png_software(path: Path) -> str | None:
    with Image.open(path) as image:
        return image.info.get("Software")


def test_regenerating_the_demo_tables_and_figures_from_the_committed_results_changes_no_byte(tmp_path):
    committed = PROJECT_ROOT / "results" / "demo"
    (tmp_path / "demo").mkdir()
    shutil.copy(committed / "results.json", tmp_path / "demo" / "results.json")
    reproduce_module.reproduce("demo", tmp_path, train_missing=False)
    assert (tmp_path / "demo" / "results.json").read_bytes() == (committed / "results.json").read_bytes()
    assert (tmp_path / "demo" / "results.md").read_bytes() == (committed / "results.md").read_bytes()
    tracked = subprocess.run(["git", "ls-files", "figures/demo_*"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    regenerated = sorted((tmp_path / "demo" / "figures").iterdir())
    assert [f"figures/{p.name}" for p in regenerated] == sorted(tracked.stdout.split())
    for path in regenerated:
        if png_software(path) == png_software(PROJECT_ROOT / "figures" / path.name):  # the same matplotlib
            assert path.read_bytes() == (PROJECT_ROOT / "figures" / path.name).read_bytes(), path.name


# ------------------------------------------------------------------------ 14: make demo trains
def test_make_demo_trains_into_a_fresh_folder():
    done = subprocess.run(["make", "-n", "demo"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    [command] = [line for line in done.stdout.splitlines() if "reproduce" in line]
    assert "--profile demo" in command and "--out runs/demo-" in command, command


def test_reproduce_into_a_fresh_folder_trains_every_row_and_prints_it_beside_the_committed_reference(
        tmp_path, monkeypatch, capsys):
    trained_rows = fake_training(monkeypatch)
    fake = reproduce_module.train

    def stamped(*args, **kwargs):  # the real train stamps each row with the commit it runs at
        report = fake(*args, **kwargs)
        return {**report, "provenance": {**report["provenance"], "git_commit": git_commit()}}

    monkeypatch.setattr(reproduce_module, "train", stamped)
    before = snapshot(PROJECT_ROOT / "results", PROJECT_ROOT / "figures", PROJECT_ROOT / "README.md")
    code, out, err = run(["reproduce", "--profile", "demo", "--out", tmp_path / "demo-now"], capsys)
    assert code == 0, err
    assert trained_rows == list(DEMO_ROWS)
    reference = json.loads((PROJECT_ROOT / "results" / "demo" / "results.json").read_text())
    then = reference["rows"]["dpfah"]["provenance"]["git_commit"]
    assert f"at commit {git_commit()}" in out
    assert f"this run (commit {git_commit()})" in out and f"committed reference (commit {then})" in out, out
    assert "results/demo/results.json" in out
    assert snapshot(PROJECT_ROOT / "results", PROJECT_ROOT / "figures", PROJECT_ROOT / "README.md") == before


def test_reproduce_with_every_row_finished_says_it_trained_nothing(tmp_path, monkeypatch, capsys):
    trained_rows = fake_training(monkeypatch)
    (tmp_path / "results" / "demo").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "results" / "demo" / "results.json", tmp_path / "results" / "demo")
    monkeypatch.chdir(tmp_path)  # the default --out, results/, of a clone in tmp_path
    before = snapshot(tmp_path)
    code, out, err = run(["reproduce", "--profile", "demo"], capsys)
    assert code == 0 and trained_rows == [], err
    then = json.loads((tmp_path / "results" / "demo" / "results.json").read_text())["rows"]["dpfah"]
    note = [line for line in out.splitlines() if line.startswith("nothing to train")]
    assert note == [f"nothing to train: every row is in {Path('results') / 'demo' / 'results.json'} "
                    f"(from commit {then['provenance']['git_commit']}); pass --out <new folder> to train again"], out
    unchanged(before, snapshot(tmp_path))


# ------------------------- 9: a damaged JSON file of a committed checkpoint or of reproduce's results
def cut(path: Path) -> Path:
    """``path`` cut in half, as an interrupted copy or download leaves it."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize("name", ["metrics.json", "config.json"])
def test_a_damaged_json_file_of_a_committed_checkpoint_names_it_and_how_to_get_it_back(
        name, trained, tmp_path, monkeypatch, capsys):
    data, run_dir = trained
    saved = commit_checkpoint(trained, tmp_path, monkeypatch)
    cut(saved / name)
    shutil.rmtree(tmp_path / "runs")  # a later call finds the committed copy only
    shown = saved.relative_to(tmp_path) / name
    words = (f"{saved / name} is damaged", f"restore it (git checkout -- {shown})",
             "or train it again (python -m hashlib_tutorial checkpoints --retrain)")
    refused(["checkpoints"], capsys, (tmp_path, data, run_dir), words)
    before = snapshot(tmp_path, data, run_dir)
    with pytest.raises(ValueError, match=rf"{saved / name} is damaged .*checkpoints --retrain"):
        course.course_run("dah", (8,), "folder", **course.COURSE_RUNS[0][3])  # as a notebook opens it
    assert snapshot(tmp_path, data, run_dir) == before


@pytest.mark.parametrize("where", ["results.json, --out elsewhere", "results.json, the project's results/",
                                   "a row's metrics.json"])
def test_reproduce_names_a_damaged_results_json_and_how_to_get_it_back(where, tmp_path, monkeypatch, capsys):
    trained_rows = fake_training(monkeypatch)
    if where == "results.json, the project's results/":
        monkeypatch.setattr(reproduce_module, "PROJECT_ROOT", tmp_path)  # a clone in tmp_path
    out = tmp_path / "results" / "demo"
    out.mkdir(parents=True)
    if where == "a row's metrics.json":
        (out / "runs" / "lsh").mkdir(parents=True)
        damaged = cut(write(out / "runs" / "lsh" / "metrics.json", json.dumps({"results": {"16": {"mAP": 0.5}}})))
        words = (f"{damaged} is damaged", "delete it and run reproduce again")
    else:
        damaged = cut(Path(shutil.copy(PROJECT_ROOT / "results" / "demo" / "results.json", out)))
        words = (f"{damaged} is damaged", "delete it and run reproduce again (it retrains every row)")
    if where == "results.json, the project's results/":
        words += ("restore it (git checkout -- results/demo/results.json)",)
    absent = ("git checkout",) if where == "results.json, --out elsewhere" else ()
    refused(["reproduce", "--profile", "demo", "--no-train", "--out", tmp_path / "results"], capsys,
            (tmp_path, PROJECT_ROOT / "results", PROJECT_ROOT / "figures"), words, absent)
    assert trained_rows == []
