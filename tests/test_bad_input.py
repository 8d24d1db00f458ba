"""Every mistake a new user makes on the command line: one line on stderr that names the cause and the
fix, the right exit status, no traceback, and no file changed (hashes of every file before and after).

One tiny DAH run (one epoch on 32x32 image files) is trained once for the module; each case
prepares its own files in tmp_path and runs the command in-process. Two cases run in a subprocess.
"""

import hashlib
import json
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hashlib_tutorial.__main__ import main
from hashlib_tutorial.retrieval.index import HammingIndex
from hashlib_tutorial.retrieval.metrics import mean_average_precision
from hashlib_tutorial.training import train as train_module
from hashlib_tutorial.training.registry import build_method


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none: PIL's decompression-bomb guard refuses it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def write_images(folder: Path, n: int, seed: int = 0) -> None:
    """n class-coloured 32x32 PNGs, alternating between the classes cats and dogs."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        colour = (200, 60, 60) if i % 2 == 0 else (60, 60, 200)
        image = np.clip(np.array(colour) + rng.normal(0, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
        (folder / ["cats", "dogs"][i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / ["cats", "dogs"][i % 2] / f"{i}.png")


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file (by content hash) and folder under ``folders``."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for folder in folders if folder.exists() for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, run directory) of one DAH run, 8 bits, one epoch."""
    root = tmp_path_factory.mktemp("shared")
    write_images(root / "data" / "train", 24)
    write_images(root / "data" / "test", 8, seed=1)
    main(Env(root / "run", root / "data", root, None).train(root / "run"))
    return root / "data", root / "run"


class Env:
    """What a case works with: the shared run and data, its own tmp folder, monkeypatch."""

    def __init__(self, run: Path, data: Path, tmp: Path, monkeypatch):
        self.run, self.data, self.tmp, self.monkeypatch = run, data, tmp, monkeypatch
        self.undo: list[Callable[[], None]] = []

    def train(self, out: Path, *extra) -> list[str]:
        """The run's own command line, then ``extra`` (a later option overrides an earlier one)."""
        return [str(a) for a in ("train", "--method", "dah", "--bits", "8", "--dataset", "folder", "--data-dir",
                                 self.data, "--epochs", "1", "--batch-size", "8", "--quiet", *extra, "--out", out)]

    def copy_run(self) -> Path:
        shutil.copytree(self.run, self.tmp / "run")
        return self.tmp / "run"

    def images(self) -> Path:
        """A folder of 4 good images, a zero-byte .jpg, a text file named .png and a decompression bomb."""
        folder = self.tmp / "images"
        folder.mkdir()
        for path in sorted((self.data / "test" / "cats").glob("*.png"))[:4]:
            shutil.copy(path, folder / path.name)
        (folder / "empty.jpg").write_bytes(b"")
        (folder / "text.png").write_text("not an image")
        (folder / "bomb.png").write_bytes(png_header(20_000, 10_000))
        return folder

    def codes(self, run: Path | None = None) -> Path:
        """codes.npz of the test images, encoded with ``run`` (default: the shared run)."""
        main([str(a) for a in ("encode", "--run", run or self.run, "--images", self.data / "test",
                               "--out", self.tmp / "codes.npz")])
        return self.tmp / "codes.npz"

    def list_layout(self, first_line: str) -> Path:
        folder = self.tmp / "list"
        write_images(folder / "images", 2)
        for name in ("train.txt", "test.txt", "database.txt"):
            (folder / name).write_text(f"{first_line}\nimages/cats/0.png 1 0\n")
        return folder


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:1000])
    return path


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# Preparations of more than one step: each writes the case's files and returns the command line.
def resume_when_the_data_changed(e: Env) -> list[str]:
    extra = e.data / "train" / "cats" / "extra.png"
    shutil.copy(e.data / "train" / "cats" / "0.png", extra)
    e.undo.append(extra.unlink)
    return e.train(e.run, "--resume")


def resume_from_garbage(e: Env) -> list[str]:
    (e.copy_run() / "8bits" / "checkpoint.pt").write_bytes(b"\x80\x02garbage" * 50)
    return e.train(e.tmp / "run", "--resume")


def train_into_a_file(e: Env) -> list[str]:
    (e.tmp / "notes.txt").write_text("mine")
    return e.train(e.tmp / "notes.txt")


def overwrite_a_folder_of_other_things(e: Env) -> list[str]:
    (e.tmp / "notes.txt").write_text("mine")
    return e.train(e.tmp, "--overwrite")


def train_on_a_truncated_cache(e: Env) -> list[str]:
    (e.tmp / "cifar10").mkdir()
    np.savez(e.tmp / "cifar10" / "cifar10_uint8.npz", images=np.zeros((100, 32, 32, 3), np.uint8))
    truncate(e.tmp / "cifar10" / "cifar10_uint8.npz")
    return e.train(e.tmp / "new", "--dataset", "cifar10", "--data-dir", e.tmp)


def train_with_a_decompression_bomb(e: Env) -> list[str]:
    shutil.copytree(e.data, e.tmp / "data")
    (e.tmp / "data" / "train" / "cats" / "bomb.png").write_bytes(png_header(20_000, 10_000))
    return e.train(e.tmp / "new", "--data-dir", e.tmp / "data")


def resume_after_a_kill(e: Env) -> list[str]:
    (e.copy_run() / "8bits" / "checkpoint.pt.tmp").write_bytes(b"half a checkpoint")
    return e.train(e.tmp / "run", "--resume")


def evaluate_beside_a_stale_sub_run(e: Env) -> list[str]:
    (e.copy_run() / "16bits").mkdir()
    (e.tmp / "run" / "16bits" / "best.pt").write_bytes(b"an earlier run's")
    return ["evaluate", e.tmp / "run", "--json"]


def search_a_retrained_run(e: Env) -> list:
    codes = e.codes(e.copy_run())
    settings = json.loads((e.tmp / "run" / "config.json").read_text())
    write(e.tmp / "run" / "config.json", json.dumps({**settings, "bits": [16]}))  # trained again at 16 bits
    return search_with(e, codes)


def search_a_deleted_run(e: Env) -> list:
    codes = e.codes(e.copy_run())
    shutil.rmtree(e.tmp / "run")
    return search_with(e, codes)


def encode_into(e: Env, out: Path, images: Path | None = None) -> list:
    return ["encode", "--run", e.run, "--images", images or e.data / "test", "--out", out]


def search_with(e: Env, codes: Path, query: Path | None = None) -> list:
    return ["search", "--codes", codes, "--query", query or next((e.data / "test" / "cats").glob("*.png"))]


def write(path: Path, text: str = "mine") -> Path:
    path.write_text(text)
    return path


def no_tmp_left(e: Env, out: str) -> None:
    assert not (e.tmp / "run" / "8bits" / "checkpoint.pt.tmp").exists()


def encoded_only_the_readable_images(e: Env, out: str) -> None:
    saved = np.load(e.tmp / "codes.npz")
    assert sorted(Path(p).name for p in saved["paths"]) == sorted(p.name for p in (e.tmp / "images").glob("*.png")
                                                                   if p.name not in ("text.png", "bomb.png"))
    assert saved["codes"].shape == (4, 8)


def wrote_the_name_it_reported(e: Env, out: str) -> None:
    assert (e.tmp / "noext").is_file() and not (e.tmp / "noext.npz").exists()


def scored_only_8_bits(e: Env, out: str) -> None:
    assert list(json.loads(out)["results"]) == ["8"]


@dataclass
class Case:
    argv: Callable[[Env], list]  # prepares the case's files and returns the command line
    code: int                    # exit status
    words: tuple[str, ...]       # each must appear in stdout + stderr
    absent: tuple[str, ...] = ()  # none may appear
    writes: bool = False         # the command succeeds and writes; every other case changes no file
    check: Callable[[Env, str], None] | None = None  # more assertions, given the case and stdout


CASES = {
    # ------------------------------------------------------------- the run folder is never damaged
    "train into a run, another method, no --resume": Case(
        lambda e: e.train(e.run, "--method", "dsh"), 1, ("already holds a run", "--resume", "--overwrite")),
    "train into a run, same settings, no --resume": Case(lambda e: e.train(e.run), 1, ("already holds a run",)),
    "--resume and --overwrite together": Case(
        lambda e: e.train(e.run, "--resume", "--overwrite"), 2, ("--overwrite", "not allowed with", "--resume")),
    "--resume, another method": Case(
        lambda e: e.train(e.run, "--method", "dsh", "--resume"), 1, ("cannot resume", "method 'dah' -> 'dsh'")),
    "--resume, another data folder": Case(
        lambda e: e.train(e.run, "--data-dir", e.tmp, "--resume"), 1, ("cannot resume", "data_dir")),
    "--resume, another seed": Case(lambda e: e.train(e.run, "--seed", "1", "--resume"), 1, ("seed 0 -> 1",)),
    "--resume, another lr and batch size": Case(
        lambda e: e.train(e.run, "--lr", "0.0123", "--batch-size", "4", "--resume"), 1,
        (f"lr {build_method('dah', 8).config.lr} -> 0.0123", "batch_size 8 -> 4")),
    "--resume, more epochs": Case(
        lambda e: e.train(e.run, "--epochs", "3", "--resume"), 1, ("epochs 1 -> 3", "cannot change on resume")),
    "--resume, other bits": Case(lambda e: e.train(e.run, "--bits", "16", "--resume"), 1, ("bits [8] -> [16]",)),
    "--resume, other attention": Case(
        lambda e: e.train(e.run, "--attention", "none", "--resume"), 1, ("attention 'cbam' -> None",)),
    "--resume, the data folder changed": Case(
        resume_when_the_data_changed, 1, ("train split", "differs", "data folder changed")),
    "--resume, truncated checkpoint": Case(
        lambda e: truncate(e.copy_run() / "8bits" / "checkpoint.pt") and e.train(e.tmp / "run", "--resume"), 1,
        ("checkpoint.pt", "damaged", "safe to delete"), absent=("weights_only",)),
    "--resume, garbage checkpoint": Case(
        resume_from_garbage, 1, ("checkpoint.pt", "damaged", "safe to delete"), absent=("weights_only",)),
    "--out names a file": Case(train_into_a_file, 1, ("is a file",)),
    "--out holds other things, even with --overwrite": Case(
        overwrite_a_folder_of_other_things, 1, ("not empty", "holds no run")),
    "--batch-size larger than the training set": Case(
        lambda e: e.train(e.tmp / "new", "--batch-size", "500"), 1, ("make no batch of 500", "--batch-size")),
    "--device cuda without a GPU": Case(
        lambda e: e.train(e.tmp / "new", "--device", "cuda"), 1, ("--device cuda", "auto or cpu")),
    "--device unknown": Case(lambda e: e.train(e.tmp / "new", "--device", "tpu9"), 1, ("unknown device 'tpu9'",)),
    "--attention unknown, refused before the data loads": Case(
        lambda e: e.train(e.tmp / "new", "--attention", "bogus", "--data-dir", e.tmp / "nowhere"), 2,
        ("unknown attention 'bogus'", "none, cbam"), absent=("None",)),
    "--lr negative": Case(lambda e: e.train(e.tmp / "new", "--lr", "-1"), 2, ("--lr", "not a positive number")),
    "--seed negative": Case(lambda e: e.train(e.tmp / "new", "--seed", "-1"), 2, ("--seed", "negative")),
    "--bits 0": Case(lambda e: e.train(e.tmp / "new", "--bits", "0"), 2, ("--bits", "not positive")),
    "unknown method": Case(
        lambda e: e.train(e.tmp / "new", "--method", "nope"), 1, ("unknown method", "choose one of")),
    "unknown dataset": Case(lambda e: e.train(e.tmp / "new", "--dataset", "imagenet"), 1, ("unknown dataset",)),
    "no command": Case(lambda e: [], 2, ("required",)),
    "Ctrl-C says how to resume": Case(
        lambda e: e.monkeypatch.setattr(train_module, "train", interrupt) or e.train(e.tmp / "new", "--overwrite"), 130,
        ("interrupted", "resume with", "--resume"), absent=("--overwrite",)),
    # ------------------------------------------------------------------------------------ data
    "folder without train/ and test/": Case(
        lambda e: e.train(e.tmp / "new", "--data-dir", e.tmp), 1, ("train/<class>", "data_dir")),
    "--protocol with a folder dataset": Case(
        lambda e: e.train(e.tmp / "new", "--protocol", "cifar10"), 1, ("fix its splits", "drop --protocol")),
    "CIFAR-10 missing": Case(
        lambda e: e.train(e.tmp / "new", "--dataset", "cifar10", "--data-dir", e.tmp), 1,
        ("CIFAR-10 not found", "tar -xzf", "--data-dir")),
    "CIFAR-10 cache truncated": Case(train_on_a_truncated_cache, 1, ("cifar10_uint8.npz", "damaged", "safe to delete")),
    "list file leaves the data folder": Case(
        lambda e: e.train(e.tmp / "new", "--dataset", "list", "--data-dir", e.list_layout("../../secret.png 1 0")), 1,
        ("train.txt, line 1", "outside the data folder")),
    "list file with an absolute path": Case(
        lambda e: e.train(e.tmp / "new", "--dataset", "list", "--data-dir",
                          e.list_layout(f"{e.data}/test/cats/1.png 1 0")), 1,
        ("train.txt, line 1", "outside the data folder")),
    "list file with a malformed line": Case(
        lambda e: e.train(e.tmp / "new", "--dataset", "list", "--data-dir", e.list_layout("images/cats/0.png 2 0")), 1,
        ("train.txt, line 1", "expected")),
    "list file missing": Case(
        lambda e: e.train(e.tmp / "new", "--dataset", "list", "--data-dir", e.tmp), 1, ("train.txt not found",)),
    "an image too large to decode does not stop training": Case(
        train_with_a_decompression_bomb, 0, ("cannot read image", "bomb.png", "decompression bomb", "mAP"),
        writes=True),
    "a killed run's checkpoint.pt.tmp is removed on resume": Case(
        resume_after_a_kill, 0, ("resuming", "mAP"), writes=True, check=no_tmp_left),
    # ------------------------------------------------------------------------------- evaluate
    "evaluate a folder that is not a run": Case(lambda e: ["evaluate", e.tmp], 1, ("no config.json",)),
    "evaluate a run with a damaged config.json": Case(
        lambda e: write(e.copy_run() / "config.json", "{") and ["evaluate", e.tmp / "run"], 1,
        ("config.json is damaged",)),
    "evaluate a run with a truncated best.pt": Case(
        lambda e: truncate(e.copy_run() / "8bits" / "best.pt") and ["evaluate", e.tmp / "run"], 1,
        ("best.pt", "damaged", "safe to delete"), absent=("weights_only",)),
    "evaluate reads only the sub-runs config.json names": Case(
        evaluate_beside_a_stale_sub_run, 0, ('"8"',), check=scored_only_8_bits),
    # --------------------------------------------------------------------------------- encode
    "encode skips unreadable images and says so": Case(
        lambda e: encode_into(e, e.tmp / "codes.npz", e.images()), 0,
        ("cannot read image", "empty.jpg", "text.png", "decompression bomb", "skipped 3 of 7", "wrote 4 codes"),
        writes=True, check=encoded_only_the_readable_images),
    "encode --out without .npz writes the name it reports": Case(
        lambda e: encode_into(e, e.tmp / "noext"), 0, ("wrote 8 codes to", "noext"), writes=True,
        check=wrote_the_name_it_reported),
    "encode --out exists": Case(lambda e: encode_into(e, write(e.tmp / "codes.npz")), 1, ("exists", "--overwrite")),
    "encode --images missing": Case(
        lambda e: encode_into(e, e.tmp / "c.npz", e.tmp / "nowhere"), 1, ("--images", "not a folder")),
    "encode --run is not a run": Case(
        lambda e: encode_into(e, e.tmp / "c.npz") + ["--run", e.tmp], 1, ("no config.json",)),
    "encode --bits the run lacks": Case(
        lambda e: encode_into(e, e.tmp / "c.npz") + ["--bits", "16"], 1, ("no 16-bit codes", "--bits")),
    # --------------------------------------------------------------------------------- search
    "search -k 0": Case(
        lambda e: search_with(e, e.tmp / "c.npz") + ["-k", "0"], 2, ("-k", "not positive"), absent=("code lengths",)),
    "search --query missing": Case(
        lambda e: search_with(e, e.codes(), e.tmp / "nowhere.png"), 1, ("--query", "not found")),
    "search --query unreadable": Case(
        lambda e: search_with(e, e.codes(), write(e.tmp / "q.png", "not an image")), 1,
        ("--query", "cannot be read", "q.png")),
    "search --codes missing": Case(lambda e: search_with(e, e.tmp / "c.npz"), 1, ("--codes", "not found", "encode")),
    "search --codes of a run trained again at other bits": Case(
        search_a_retrained_run, 1, ("no longer has 8-bit codes", "encode the images again"), absent=("choose",)),
    "search --codes of a deleted run": Case(search_a_deleted_run, 1, ("is gone", "encode the images again")),
    "search --codes not a codes file": Case(
        lambda e: search_with(e, write(e.tmp / "c.npz")), 1, ("not a codes file", "encode"),
        absent=("safe to delete",)),  # it may be the user's own file (issue 27, item 9)
}


@pytest.mark.parametrize("name", CASES)
def test_a_user_mistake_is_one_clear_line_and_changes_nothing(name, trained, tmp_path, monkeypatch, capsys):
    case, (data, run) = CASES[name], trained
    if name == "--device cuda without a GPU" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    e = Env(run, data, tmp_path, monkeypatch)
    try:
        argv = [str(a) for a in case.argv(e)]
        capsys.readouterr()
        before = snapshot(run, tmp_path)
        try:
            main(argv)
            code = 0
        except SystemExit as stop:
            code = stop.code
    finally:
        for undo in e.undo:
            undo()
    out, err = capsys.readouterr()
    assert code == case.code, err
    assert "Traceback" not in err
    for word in case.words:
        assert word in out + err, f"{word!r} not in {out + err!r}"
    for word in case.absent:
        assert word not in out + err, out + err
    if case.code != 0:
        assert len(err.strip().splitlines()) == 1, err  # one line, no warning before it
    if not case.writes:
        assert snapshot(run, tmp_path) == before  # no file written, changed or deleted
    if case.check:
        case.check(e, out)


@pytest.mark.parametrize("debug", [False, True])
def test_in_a_fresh_process_an_error_has_no_traceback_unless_debug(debug, tmp_path):
    argv = [sys.executable, "-m", "hashlib_tutorial", *(["--debug"] if debug else []), "train", "--method", "dah",
            "--bits", "8", "--device", "tpu9", "--out", str(tmp_path / "new")]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert done.returncode == 1
    assert ("Traceback" in done.stderr) == debug
    if not debug:
        assert done.stderr.splitlines() == ["error: unknown device 'tpu9'; choose auto, cpu, cuda, cuda:<index> or mps"]
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("codes", [np.array([["1", "-1", "1", "1"]]), np.array([[None, 1, 1, 1]])])
def test_codes_that_are_not_numbers_are_refused_by_name(codes):
    with pytest.raises(ValueError, match="codes must be numbers"):
        HammingIndex(4).add(codes)
    with pytest.raises(ValueError, match="query_codes must be numbers"):
        mean_average_precision(codes, np.ones((3, 4)), np.zeros(1), np.zeros(3))


def test_overwrite_replaces_only_the_run(trained, tmp_path, capsys):
    data, run = trained
    shutil.copytree(run, tmp_path / "run")
    (tmp_path / "run" / "notes.txt").write_text("mine")
    (tmp_path / "run" / "16bits").mkdir()   # a stale sub-run of an earlier run
    main(Env(run, data, tmp_path, None).train(tmp_path / "run", "--overwrite", "--seed", "3"))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 3
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".hashlib_run", "8bits", "config.json", "metrics.json", "notes.txt", "splits.npz"]
