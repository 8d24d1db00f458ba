"""Issue 27, part A: every setting is checked before the first write, only the project's own run folders are
deleted, one ``train`` at a time per run folder, and SIGTERM or a full disk say how to resume.

Each case asserts the exit status, one line on stderr (no traceback) and that every file that existed
before is byte-identical after. The tiny DAH run and its image folder come from test_bad_input.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from hashlib_tutorial.__main__ import build_parser, main
from hashlib_tutorial.course import CHECKPOINTS
from hashlib_tutorial.training import guard, runs
from hashlib_tutorial.training.registry import build_method
from test_bad_input import Env, snapshot, trained, write  # noqa: F401  (trained: the module's tiny run)

ROOT = Path(__file__).resolve().parent.parent
FAST = ("--set", "precision=fp32")  # bfloat16 autocast is several times slower on a CPU without it natively


@pytest.fixture(scope="module")
def busy(trained, tmp_path_factory):
    """A run folder that another ``train`` process is training in: a real train, held at its first epoch."""
    data, run = trained
    out = tmp_path_factory.mktemp("busy") / "run"
    argv = Env(run, data, out.parent, None).train(out)
    hold = ("import sys\nfrom hashlib_tutorial.__main__ import main\nfrom hashlib_tutorial.training import train\n"
            "def held(*args, **kwargs):\n    print('training', flush=True)\n    sys.stdin.read()\n    raise SystemExit(0)\n"
            f"train.train_model = held\nmain({argv!r})\n")
    other = subprocess.Popen([sys.executable, "-c", hold], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    for line in other.stdout:  # the settings it prints, then "training"
        if line.strip() == "training":
            break
    else:
        pytest.fail(f"the other train did not start: {other.communicate()[1]}")
    yield out, other.pid
    other.communicate("")


class Bad(Env):
    """A case's files; ``watch``: more folders whose files must stay as they were."""

    def __init__(self, *args, request=None):
        super().__init__(*args)
        self.watch: list[Path] = []
        self.request = request

    def overwrite(self, *settings: str) -> list[str]:
        """--overwrite a copy of the finished tiny run, with ``--set`` for each of ``settings``."""
        return self.train(self.copy_run(), "--overwrite", *[a for s in settings for a in ("--set", s)])

    def new(self, *settings: str) -> list[str]:
        """Train into a new folder with ``--set`` for each of ``settings``; the folder must not appear."""
        return self.train(self.tmp / "new", *[a for s in settings for a in ("--set", s)])

    def foreign(self, settings: dict, *extra: str) -> list[str]:
        """Train into the user's folder p, which holds their own config.json and notes."""
        (self.tmp / "p").mkdir()
        write(self.tmp / "p" / "config.json", json.dumps(settings))
        write(self.tmp / "p" / "metrics.json", '{"mine": 1}')
        return self.train(self.tmp / "p", *extra)

    def in_use(self, *extra: str) -> list[str]:
        """Train into the folder that another train process is training in (the busy fixture)."""
        out, _ = self.request.getfixturevalue("busy")
        self.watch.append(out)
        return self.train(out, *extra)


def run_settings_without_structure(e: Bad) -> list[str]:
    """A copy of a run's config.json alone beside the user's notes: no splits, no sub-run, no marker."""
    (e.tmp / "p").mkdir()
    write(e.tmp / "p" / "config.json", (e.run / "config.json").read_text())
    write(e.tmp / "p" / "notes.txt")
    return e.train(e.tmp / "p", "--overwrite")


def empty_folder(e: Bad) -> Path:
    """An empty folder made for the run (new files in it would change the snapshot)."""
    (e.tmp / "empty").mkdir()
    return e.tmp / "empty"


@dataclass
class Case:
    argv: Callable[[Bad], list]    # prepares the case's files and returns the command line
    code: int                      # exit status
    words: tuple[str, ...]         # each must appear on stderr
    absent: tuple[str, ...] = ()   # none may appear on stderr


CASES = {
    # 1. --overwrite deletes a good run, then fails on a setting checked too late
    "1 --overwrite, attention=SimAM": Case(lambda e: e.overwrite("attention=SimAM"), 2,
                                           ("attention=SimAM", "cbam, se, simam")),
    "1 --overwrite, backbone=resnet50": Case(lambda e: e.overwrite("backbone=resnet50"), 2,
                                             ("backbone", "alexnet", "resnet18")),
    "1 --overwrite, optimizer=adamw": Case(lambda e: e.overwrite("optimizer=adamw"), 2, ("adam, rmsprop, sgd",)),
    "1 --overwrite, lr_schedule=step": Case(lambda e: e.overwrite("lr_schedule=step"), 2, ("cosine", "warmup_linear")),
    "1 --overwrite, precision=fp8": Case(lambda e: e.overwrite("precision=fp8"), 2, ("auto, bf16, fp16, fp32",)),
    "1 --overwrite, a backbone_kwargs name the backbone lacks": Case(
        lambda e: e.overwrite('backbone_kwargs={"widht": 0.5}'), 1, ("resnet18", "'widht'", "width")),
    "1 --overwrite, a backbone_kwargs value the backbone refuses": Case(
        lambda e: e.overwrite('backbone_kwargs={"stem": "bogus"}'), 1, ("stem 'bogus'", "imagenet")),
    "1 --overwrite, a backbone too deep for the image size": Case(
        lambda e: e.overwrite("backbone=alexnet"), 1, ("63 px", "image_size")),
    "1 --overwrite, eval_every=0": Case(lambda e: e.overwrite("eval_every=0"), 2, ("eval_every", ">= 1")),
    "1 --overwrite, batch_size=0": Case(lambda e: e.overwrite("batch_size=0"), 2, ("batch_size", ">= 1")),
    "1 --overwrite, lr=-0.1": Case(lambda e: e.overwrite("lr=-0.1"), 2, ("lr", "> 0")),
    "1 --overwrite, nesterov without momentum": Case(
        lambda e: e.overwrite("momentum=0"), 1, ("nesterov", "momentum")),
    "1 a new folder, attention=SimAM: nothing written": Case(lambda e: e.new("attention=SimAM"), 2, ("attention",)),
    "1 a new folder, a bad backbone_kwargs value: nothing written": Case(
        lambda e: e.new('backbone_kwargs={"placement": "everywhere"}'), 1, ("placement 'everywhere'",)),
    # 2. following the error's advice deletes the user's own files
    "2 a folder with its own config.json": Case(
        lambda e: e.foreign({"port": 1}), 1, ("config.json", "not written by train"), absent=("--overwrite",)),
    "2 a folder with its own config.json, --overwrite": Case(
        lambda e: e.foreign({"port": 1}, "--overwrite"), 1, ("not written by train",), absent=("--overwrite",)),
    "2 a folder with its own config.json, --resume": Case(
        lambda e: e.foreign({"port": 1}, "--resume"), 1, ("not written by train",), absent=("--overwrite",)),
    "2 a config.json naming a method and bits among its own keys, --overwrite": Case(
        lambda e: e.foreign({"method": "dah", "bits": [8], "port": 1}, "--overwrite"), 1, ("not written by train",)),
    "2 a run's config.json alone beside the user's notes, --overwrite": Case(
        run_settings_without_structure, 1, ("not written by train",), absent=("--overwrite",)),
    # 4. --set augment=False silently does the opposite
    "4 augment=maybe": Case(lambda e: e.new("augment=maybe"), 2, ("augment=maybe", "true or false")),
    "4 augment=2": Case(lambda e: e.new("augment=2"), 2, ("augment", "true or false")),
    "4 test_flip=yes please": Case(lambda e: e.new("test_flip=yes please"), 2, ("test_flip", "true or false")),
    # 6. two train processes on one --out
    "6 a second train into a folder in use": Case(lambda e: e.in_use(), 1, ("in use by another train", "pid")),
    "6 --resume a run in use": Case(lambda e: e.in_use("--resume"), 1, ("in use by another train",)),
    "6 --overwrite a run in use": Case(lambda e: e.in_use("--overwrite"), 1, ("in use by another train",)),
    # 7. --set epochs=0 or negative
    "7 epochs=0": Case(lambda e: e.new("epochs=0"), 2, ("epochs=0", "an integer >= 1")),
    "7 epochs=-2": Case(lambda e: e.new("epochs=-2"), 2, ("epochs=-2", "an integer >= 1")),
    # 8. tracebacks
    "8 epochs=1.5": Case(lambda e: e.overwrite("epochs=1.5"), 2, ("epochs=1.5", "an integer")),
    "8 epochs=abc": Case(lambda e: e.new("epochs=abc"), 2, ("epochs=abc", "an integer")),
    "8 loss_weights=5": Case(lambda e: e.new("loss_weights=5"), 2, ("loss_weights", "JSON object")),
    "8 loss_weights, malformed JSON": Case(
        lambda e: e.new('loss_weights={"eta": 5'), 2, ("loss_weights", "not valid JSON"), absent=("'e'",)),
    "8 loss_weights, a weight that is not a number": Case(
        lambda e: e.new('loss_weights={"class": "high"}'), 2, ("loss_weights", "number")),
    "8 backbone_kwargs, a list": Case(lambda e: e.new("backbone_kwargs=[1]"), 2, ("backbone_kwargs", "JSON object")),
    "8 backbone_kwargs, a width of the wrong type": Case(
        lambda e: e.new('backbone_kwargs={"width": "half"}'), 1, ("width", "half")),
    "8 branches, an unknown field": Case(
        lambda e: e.new('branches={"hiden": [8]}') + ["--method", "admth"], 2, ("branches", "hiden", "split_at")),
    "8 branches=5": Case(lambda e: e.new("branches=5") + ["--method", "admth"], 2, ("branches", "JSON object")),
    "8 branches, split_at beyond the layers": Case(
        lambda e: e.new('branches={"hidden": [8], "split_at": 3}') + ["--method", "admth"], 2, ("split_at", "0..1")),
    "8 bits=16": Case(lambda e: e.new("bits=16"), 2, ("--bits",)),
    "8 method=dpfah": Case(lambda e: e.new("method=dpfah"), 2, ("--method",)),
    "8 profile=paper": Case(lambda e: e.new("profile=paper"), 2, ("--profile",)),
    "8 mosaic_classes=7": Case(lambda e: e.new("mosaic_classes=7"), 2, ("mosaic_classes",)),
    # 9. a setting blamed on the images
    "9 image_size=0": Case(lambda e: e.new("image_size=0"), 2, ("image_size=0", ">= 1"), absent=("image file",)),
    "9 --overwrite, image_size=0": Case(lambda e: e.overwrite("image_size=0"), 2, ("image_size",)),
    # 9. ITQ with more bits than the training images allow: refused before train's first write
    "9 itq, more bits than training images: nothing written": Case(
        lambda e: e.new() + ["--method", "itq", "--bits", "64"], 1, ("itq at 64 bits", "training images", "--bits")),
    "9 itq, more bits than training images, into an empty folder: it stays empty": Case(
        lambda e: e.train(empty_folder(e), "--method", "itq", "--bits", "16", "64"), 1, ("itq at 64 bits",)),
}


@pytest.mark.parametrize("name", CASES)
def test_a_bad_setting_or_folder_is_one_line_and_changes_nothing(name, trained, tmp_path, capsys, request):
    case, (data, run) = CASES[name], trained
    e = Bad(run, data, tmp_path, None, request=request)
    argv = [str(a) for a in case.argv(e)]
    capsys.readouterr()
    folders = (data.parent, tmp_path, *e.watch)
    before = snapshot(*folders)
    try:
        main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    assert code == case.code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in case.words:
        assert word in err, f"{word!r} not in {err!r}"
    for word in case.absent:
        assert word not in err, err
    assert snapshot(*folders) == before  # no file written, changed or deleted
    if name == "6 a second train into a folder in use":
        assert f"pid {request.getfixturevalue('busy')[1]}" in err


@pytest.mark.parametrize("setting,value", [("augment=False", False), ("augment=false", False), ("augment=0", False),
                                           ("augment=true", True), ("test_flip=False", False), ("nesterov=1", True)])
def test_set_reads_a_boolean_as_a_boolean(setting, value):
    args = build_parser().parse_args(["train", "--method", "dah", "--bits", "8", "--out", "x", "--set", setting])
    field, parsed = args.set[0]
    assert parsed is value
    assert getattr(build_method("dah", 8, **{field: parsed}).config, field) is value


def full_disk_at_the_second_checkpoint(monkeypatch):
    """torch.save fails as on a full disk (the kernel's own ENOSPC, from /dev/full) at the second checkpoint.pt."""
    real_save, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        if "checkpoint.pt" in str(getattr(f, "name", f)):
            calls.append(f)
            if len(calls) == 2:
                if isinstance(f, (str, os.PathLike)):
                    return real_save(obj, "/dev/full")
                with open("/dev/full", "wb") as full:
                    return real_save(obj, full)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_names_the_file_keeps_the_previous_checkpoint_and_says_how_to_resume(trained, tmp_path,
                                                                                          monkeypatch, capsys):
    data, run = trained
    argv = [str(a) for a in Env(run, data, tmp_path, None).train(tmp_path / "run", "--epochs", "2", *FAST)]
    before = snapshot(data.parent)
    full_disk_at_the_second_checkpoint(monkeypatch)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    checkpoint = tmp_path / "run" / "8bits" / "checkpoint.pt"
    assert f"no space left on device while writing {checkpoint}; free some space and resume with: " in err
    assert err.strip().endswith("--resume") and "--epochs 2" in err
    assert torch.load(checkpoint, weights_only=True)["state"]["epoch"] == 1  # the previous checkpoint is kept
    assert not list((tmp_path / "run").rglob("*.tmp"))
    assert snapshot(data.parent) == before
    monkeypatch.undo()
    main(argv + ["--resume"])
    assert torch.load(checkpoint, weights_only=True)["state"]["epoch"] == 2


@pytest.mark.parametrize("name,damage", [("metrics.json", '{"results": {"8": {"mAP"'), ("metrics.json", ""),
                                         ("8bits/history.json", "[{")])
def test_a_damaged_json_file_of_a_run_is_named_with_what_to_do(name, damage, trained, tmp_path):
    _, run = trained
    copy = Env(run, run, tmp_path, None).copy_run()
    write(copy / name, damage)
    with pytest.raises(ValueError, match=rf"{copy / name} is damaged \(not valid JSON.*--resume"):
        runs.read_metrics(copy) if name == "metrics.json" else runs.run_summary(copy, 8)


def test_sigterm_exits_143_with_the_command_that_resumes(trained, tmp_path):
    data, run = trained
    argv = Env(run, data, tmp_path, None).train(tmp_path / "run", "--epochs", "200", *FAST)
    before = snapshot(data.parent)
    process = subprocess.Popen([sys.executable, "-m", "hashlib_tutorial", *map(str, argv)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "run" / "8bits" / "checkpoint.pt").exists() and process.poll() is None:
        assert time.time() < deadline, "no checkpoint after 120 s"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("terminated; resume with: python -m hashlib_tutorial train")
    assert lines[0].endswith("--resume") and "--epochs 200" in lines[0]
    assert snapshot(data.parent) == before


def test_runs_written_before_the_marker_are_still_runs(trained, tmp_path, capsys):
    committed = sorted(p for p in (CHECKPOINTS / "quick").iterdir() if p.is_dir())
    assert committed and all(guard.made_by_train(p) for p in committed)
    data, run = trained
    e = Env(run, data, tmp_path, None)
    old = e.copy_run()
    for marker in old.glob(".hashlib_run*"):
        marker.unlink()  # as train wrote it before the marker existed
    assert guard.made_by_train(old) and not guard.made_by_train(data)
    with pytest.raises(SystemExit):
        main([str(a) for a in e.train(old)])
    assert "already holds a run" in capsys.readouterr().err
    main([str(a) for a in e.train(old, "--overwrite", "--seed", "3")])
    assert json.loads((old / "config.json").read_text())["seed"] == 3
