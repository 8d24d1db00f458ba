"""``train``: train and evaluate a method at one or more code lengths into a run directory (see :mod:`runs`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.distributed as dist

from ..data.splits import RetrievalSplits, load_data
from .evaluate import evaluate_method, feature_extractor
from .loop import autocast_dtype, distributed, train_model
from .registry import build_method
from .runs import (RESTART_REMEDY, check_compatible, check_run_folder, check_saved_splits, git_commit, load_checkpoint,
                   provenance, read_config, remove_run, save_json, sub_run_dirs, usable_device)


def train(method_name: str, bits, out: str | Path, profile: str = "quick", resume: bool = False,
          splits: RetrievalSplits | None = None, progress: bool = True, command: str | None = None,
          overwrite: bool = False, **overrides) -> dict:
    """Train and evaluate ``method_name`` at every code length in ``bits``; write ``out/metrics.json``.

    Single-length methods train one model per length (``out/<K>bits/``); a multi-length method
    trains one model for all (``out/<K1>-<K2>-...bits/``). Returns the metrics dictionary.

    ``out`` must be new or empty, unless ``resume`` continues the run it holds (refused unless every
    setting matches, see `_check_compatible`, and the data gives the same splits) or ``overwrite``
    replaces it. Every check that can refuse, loading the data included, comes before the first
    write: a refused call leaves ``out`` as it was.
    """
    git_commit()  # the code as it is now, when the run starts (cached for the provenance)
    out = Path(out)
    sub_runs = sub_run_dirs(out, method_name, bits)
    bits = tuple(b for group in sub_runs for b in group)
    methods = [build_method(method_name, group, profile, **overrides) for group in sub_runs]
    config = methods[0].config
    settings = {**config.to_dict(), "bits": list(bits)}
    check_run_folder(out, resume, overwrite)
    if resume and (out / "config.json").exists():
        check_compatible(read_config(out), settings, out / "config.json")
        for method, sub_run in zip(methods, sub_runs.values()):
            if (sub_run / "checkpoint.pt").exists():
                saved = load_checkpoint(sub_run / "checkpoint.pt", RESTART_REMEDY)
                check_compatible(saved["config"], method.config.to_dict(), sub_run / "checkpoint.pt")
    device = usable_device(config.device)
    rank, world = distributed()
    splits = splits or load_data(config)
    if resume and (out / "splits.npz").exists():
        check_saved_splits(out, splits)
    deep = methods[0].deep
    if deep and len(splits.train) // world < config.batch_size:  # train_model checks it too, after writing
        raise ValueError(f"{len(splits.train)} training images per process make no batch of {config.batch_size}; "
                         "lower --batch-size or use more data")
    features = None if deep else feature_extractor(methods[0], splits.num_classes, device)
    if world > 1:
        dist.barrier()  # every process has checked out before rank 0 writes into it
    if rank == 0:  # the first write
        if overwrite and out.exists():
            remove_run(out)
        out.mkdir(parents=True, exist_ok=True)
        print(json.dumps(settings, indent=1, default=str))
        save_json(out / "config.json", settings)
        splits.save_indices(out / "splits.npz")
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
    if deep:  # what "precision": "auto" chose on this machine (bfloat16 only where the CPU has it natively)
        origin["autocast"] = str(autocast_dtype(config.precision, device) or torch.float32).removeprefix("torch.")
    report = {"method": method_name, "dataset": config.dataset, "protocol": splits.protocol, "profile": profile,
              "config": settings, "results": results, "provenance": origin}
    save_json(out / "metrics.json", report)
    return report
