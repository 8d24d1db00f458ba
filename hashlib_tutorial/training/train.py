"""``train``: train and evaluate a method at one or more code lengths into a run directory (see :mod:`runs`)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import torch
import torch.distributed as dist

from ..data.splits import RetrievalSplits, load_data
from .evaluate import evaluate_method, feature_extractor
from .guard import RunLock, check_run_folder, remove_run, write_marker
from .loop import autocast_dtype, distributed, train_model
from .registry import build_method
from .runs import (RESTART_REMEDY, check_compatible, check_saved_splits, git_commit, load_checkpoint, provenance,
                   read_config, save_json, sub_run_dirs, usable_device)
from .validation import check_model_runs


def train(method_name: str, bits, out: str | Path, profile: str = "quick", resume: bool = False,
          splits: RetrievalSplits | None = None, progress: bool = True, command: str | None = None,
          overwrite: bool = False, **overrides) -> dict:
    """Train and evaluate ``method_name`` at every code length in ``bits``; write ``out/metrics.json``.

    Single-length methods train one model per length (``out/<K>bits/``); a multi-length method
    trains one model for all (``out/<K1>-<K2>-...bits/``). Returns the metrics dictionary.

    ``out`` must be new or empty, unless ``resume`` continues the run it holds (refused unless every
    setting matches, see `_check_compatible`, and the data gives the same splits) or ``overwrite``
    replaces it (a run folder only, see :func:`guard.made_by_train`). Every check that can refuse
    comes before the first write: the settings (:mod:`validation`), the folder, the device, the data,
    the batch size against the data, and one batch through the model and its loss (for ITQ: its bits
    against the training images). A refused call leaves ``out`` as it was. The process holds a lock on
    ``out`` while it trains (:class:`guard.RunLock`): a second train on the same ``out`` is refused at once.
    """
    git_commit()  # the code as it is now, when the run starts (cached for the provenance)
    out = Path(out)
    sub_runs = sub_run_dirs(out, method_name, bits)
    bits = tuple(b for group in sub_runs for b in group)
    methods = [build_method(method_name, group, profile, **overrides) for group in sub_runs]  # every setting checked
    config = methods[0].config
    settings = {**config.to_dict(), "bits": list(bits)}
    rank, world = distributed()
    with RunLock(out) if rank == 0 else contextlib.nullcontext() as lock:  # another train in out: refused now
        check_run_folder(out, resume, overwrite)
        device, splits = _check_before_writing(methods, sub_runs, out, settings, resume, splits, world)
        features = None if methods[0].deep else feature_extractor(methods[0], splits.num_classes, device)
        if world > 1:
            dist.barrier()  # every process has checked out before rank 0 writes into it
        if rank == 0:  # the first write
            out.mkdir(parents=True, exist_ok=True)
            lock.acquire()  # if out is new
            check_run_folder(out, resume, overwrite)  # again, locked: another train may have written it meanwhile
            if overwrite and out.exists():
                remove_run(out)
            write_marker(out, command)
            print(json.dumps(settings, indent=1, default=str))
            save_json(out / "config.json", settings)
            splits.save_indices(out / "splits.npz")
        return _train_and_evaluate(methods, sub_runs, out, splits, features, device, resume, progress, command, profile,
                                   settings)


def _check_before_writing(methods, sub_runs, out: Path, settings: dict, resume: bool, splits, world: int):
    """Every check of :func:`train` after the settings and the folder: (device, splits), or ValueError."""
    config = methods[0].config
    if resume and (out / "config.json").exists():
        check_compatible(read_config(out), settings, out / "config.json")
        for method, sub_run in zip(methods, sub_runs.values()):
            if (sub_run / "checkpoint.pt").exists():
                saved = load_checkpoint(sub_run / "checkpoint.pt", RESTART_REMEDY)
                check_compatible(saved["config"], method.config.to_dict(), sub_run / "checkpoint.pt")
    device = usable_device(config.device)
    splits = splits or load_data(config)
    if resume and (out / "splits.npz").exists():
        check_saved_splits(out, splits)
    if methods[0].deep:
        if len(splits.train) // world < config.batch_size:  # train_model checks it too, after writing
            raise ValueError(f"{len(splits.train)} training images per process make no batch of {config.batch_size}; "
                             "lower --batch-size or use more data")
        for method in methods:
            check_model_runs(method, splits.num_classes, splits.multi_label)
    else:  # fitted after the first write: ITQ's PCA needs at least as many training images as bits
        for method in methods:
            method.check_training_set(len(splits.train))
    return device, splits


def _train_and_evaluate(methods, sub_runs, out: Path, splits, features, device, resume: bool, progress: bool,
                        command: str | None, profile: str, settings: dict) -> dict:
    """Train every model of the run (or fit it, for a non-deep method), evaluate it, write metrics.json."""
    config, method_name, (rank, _) = methods[0].config, methods[0].name, distributed()
    results, started = {}, time.time()
    for sub_run, method in zip(sub_runs.values(), methods):
        t0 = time.time()
        if method.deep:
            model, state = train_model(method, splits, sub_run, resume, progress)
            extra = {"best_epoch": state["best_epoch"], "best_val_mAP": state["best_val_map"],
                     "train_seconds": round(sum(r["seconds"] for r in state["history"]), 1)}  # survives resume
        else:
            model, extra = None, {"input_features": method.config.input_features}
            method.fit(features(splits.train))
            extra["train_seconds"] = round(time.time() - t0, 1)
            sub_run.mkdir(exist_ok=True)  # nothing to save: evaluate refits (seeded)
        if rank != 0:
            continue
        for k, result in evaluate_method(method, model, splits, device, progress).items():
            results[k] = {**result, **extra}
            print(f"{method_name} {k} bits: mAP {result['mAP']:.4f} (tie-aware {result['mAP_tie_aware']:.4f}; "
                  f"chance {result['chance']:.4f})")
    if rank != 0:
        return {}
    origin = provenance(command, device, started)
    if methods[0].deep:  # what "precision": "auto" chose on this machine (bfloat16 only where the CPU has it natively)
        origin["autocast"] = str(autocast_dtype(config.precision, device) or torch.float32).removeprefix("torch.")
    report = {"method": method_name, "dataset": config.dataset, "protocol": splits.protocol, "profile": profile,
              "config": settings, "results": results, "provenance": origin}
    save_json(out / "metrics.json", report)
    return report
