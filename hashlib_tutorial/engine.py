"""Training and evaluation: one visible training loop, exact retrieval evaluation, resumable runs.

A run directory holds, per code length (or one for a multi-length method), a sub-directory with
``checkpoint.pt`` (the last epoch, written atomically every epoch), ``best.pt`` (the best validation
mAP) and ``history.json``; and at the top ``config.json``, ``splits.npz`` and ``metrics.json``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms import v2
from tqdm.auto import tqdm

from . import metrics
from .evaluate import binary_codes, evaluate_method, feature_extractor
from .data import RetrievalSplits, load_splits
from .methods import Method, TrainConfig, _unwrap, build_method, method_class
from .runs import check_run_folder, check_saved_splits, load_checkpoint, read_config, remove_run, sub_run_dirs

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


# ---------------------------------------------------------------------------------------------- setup
def resolve_device(name: str = "auto") -> torch.device:
    """"auto" picks cuda, then mps, then cpu; any other name is passed to torch.device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def make_transforms(image_size: int, augment: bool) -> tuple[v2.Compose, v2.Compose]:
    """(train, eval) transforms on uint8 (3, S, S) images: optional crop + flip, then normalise."""
    normalise = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR_MEAN, CIFAR_STD)]
    augmentation = [v2.RandomCrop(image_size, padding=image_size // 8), v2.RandomHorizontalFlip()] if augment else []
    return v2.Compose(augmentation + normalise), v2.Compose(normalise)


def load_data(config: TrainConfig) -> RetrievalSplits:
    """The splits a configuration asks for, with its transforms."""
    train_t, eval_t = make_transforms(config.image_size, config.augment)
    protocol = None if config.dataset in ("folder", "list") else config.protocol
    return load_splits(config.dataset, protocol, config.data_dir, config.seed, config.image_size,
                       train_t, eval_t, config.val_fraction)


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file and rename it, so a crash never leaves a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_json(path: Path, obj) -> None:
    _atomic_write(Path(path), lambda p: p.write_text(json.dumps(obj, indent=2, default=str) + "\n"))


@functools.cache
def git_commit() -> str:
    """The project's commit, +dirty when the package's code has uncommitted changes; read once per
    process, at the start of a run (edits to notebooks or docs during a run do not mark it)."""
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "hashlib_tutorial"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def _make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose 'adam', 'rmsprop' or 'sgd'")


def _make_scheduler(config: TrainConfig, optimizer, steps: int):
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    if config.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; choose 'cosine' or 'constant'")


# ------------------------------------------------------------------------------------------ training
def _distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if torch.cuda.is_available():  # one GPU per process, bound before NCCL starts
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        # rank 0 validates alone while the others wait at a barrier: allow for a slow validation
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=1))
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _validation_map(method: Method, model: nn.Module, splits: RetrievalSplits, device) -> float:
    """mAP@ALL of the validation queries against the training images (never the query set), mean over lengths."""
    queries = binary_codes(method, _unwrap(model), splits.val, device)
    database = binary_codes(method, _unwrap(model), splits.val_database, device)
    return float(np.mean([metrics.mean_average_precision(queries[k], database[k], splits.labels("val"),
                                                         splits.labels("val_database")) for k in queries]))


def train_model(method: Method, splits: RetrievalSplits, run_dir: Path, resume: bool = False,
                progress: bool = True) -> tuple[nn.Module, dict]:
    """Train one model of ``method`` and return it with its best validation weights loaded.

    Every epoch ends with an atomic ``checkpoint.pt``; with ``resume=True`` an interrupted run
    continues from it and gives the same result as an uninterrupted one (seeded per epoch).
    """
    config, run_dir = method.config, Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rank, world = _distributed()
    if rank == 0:  # what a killed run's atomic writes left behind
        for name in ("checkpoint.pt", "best.pt", "history.json"):
            (run_dir / f"{name}.tmp").unlink(missing_ok=True)
    device = resolve_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.manual_seed(config.seed)
    model = method.build_model(splits.num_classes)
    if world > 1 and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # batch statistics over every GPU's batch
    model = model.to(device)
    optimizer = _make_optimizer(config, model.parameters())
    sampler = DistributedSampler(splits.train, world, rank, seed=config.seed, drop_last=True) if world > 1 else None
    loader = DataLoader(splits.train, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=True, generator=torch.Generator())
    if len(loader) == 0:
        raise ValueError(f"{len(splits.train)} training images per process make no batch of {config.batch_size}; "
                         "lower --batch-size or use more data")
    scheduler = _make_scheduler(config, optimizer, config.epochs * len(loader))
    use_amp = device.type == "cuda"  # mixed precision on GPUs only
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    state = {"epoch": 0, "best_val_map": -1.0, "best_epoch": 0, "history": []}
    checkpoint = run_dir / "checkpoint.pt"
    if resume and checkpoint.exists():
        saved = load_checkpoint(checkpoint, RESTART_REMEDY)
        _check_compatible(saved["config"], config.to_dict(), checkpoint)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        print(f"resuming {run_dir} after epoch {state['epoch']}")
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        torch.manual_seed(config.seed * 100_003 + epoch)  # augmentation, dropout: the same on resume
        loader.generator.manual_seed(config.seed * 100_003 + epoch)  # batch order: the same on resume
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        started, sums = time.time(), {}
        bar = tqdm(loader, desc=f"{config.method} {'/'.join(map(str, config.bits))} bits, epoch {epoch}/{config.epochs}",
                   disable=not progress or rank != 0, leave=False)
        for images, labels in bar:
            images, labels = images.to(device), labels.to(device)
            with torch.autocast("cuda", dtype=torch.float16) if use_amp else nullcontext():
                codes, logits = model(images)  # relaxed codes (B, K), class scores (B, C) or None
            loss, parts = method.loss(model, codes.float(), None if logits is None else logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            for name, value in {"loss": loss.item(), **parts}.items():
                sums[name] = sums.get(name, 0.0) + value
            bar.set_postfix(loss=f"{loss.item():.3f}")
        record = {"epoch": epoch, **{k: round(v / len(loader), 5) for k, v in sums.items()},
                  "seconds": round(time.time() - started, 2)}
        if rank == 0:
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                record["val_mAP"] = round(_validation_map(method, model, splits, device), 5)
                if record["val_mAP"] > state["best_val_map"]:
                    state["best_val_map"], state["best_epoch"] = record["val_mAP"], epoch
                    _atomic_write(run_dir / "best.pt", lambda p: torch.save(
                        {"model": _unwrap(model).state_dict(), "epoch": epoch, "config": config.to_dict()}, p))
            state["epoch"] = epoch
            state["history"].append(record)
            if progress:
                print(" ".join(f"{k}={v}" for k, v in record.items()), flush=True)
            _atomic_write(checkpoint, lambda p: torch.save(
                {"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "state": state, "config": config.to_dict()}, p))
            save_json(run_dir / "history.json", state["history"])
        if world > 1:
            dist.barrier()

    model = _unwrap(model)
    if (run_dir / "best.pt").exists():
        model.load_state_dict(torch.load(run_dir / "best.pt", map_location=device, weights_only=True)["model"])
    return model, state


# TrainConfig fields that a resume may change: they do not change what is learned.
RESUMABLE_CHANGES = ("device",)
RESTART_REMEDY = "--resume trains this model again from its first epoch"


def _check_compatible(saved: dict, wanted: dict, path: Path) -> None:
    """Refuse to resume from ``path`` unless its settings match ``wanted`` in every field but RESUMABLE_CHANGES.

    Every TrainConfig field counts, new ones included; a field missing from ``saved`` (written before
    the field existed) counts as its default. ``epochs`` must match too: the learning-rate schedule
    spans the whole run, so a longer run is refused rather than given a stretched schedule.

    Args:
        saved: the settings the run was started with (config.json, or a checkpoint's "config").
        wanted: the settings asked for now, as TrainConfig.to_dict() gives them.
        path: the file ``saved`` comes from, for the message.
    """
    defaults = TrainConfig(method="", bits=()).to_dict()  # every field but method and bits has one
    saved, wanted = (json.loads(json.dumps(c, default=str)) for c in ({**defaults, **saved}, wanted))  # tuples as lists
    changed = [f"{key} {saved.get(key)!r} -> {wanted.get(key)!r}" for key in {**wanted, **saved}
               if key not in RESUMABLE_CHANGES and saved.get(key) != wanted.get(key)]
    if changed:
        epochs = "; --epochs cannot change on resume (the learning-rate schedule spans the run)" \
            if saved.get("epochs") != wanted.get("epochs") else ""
        raise ValueError(f"cannot resume {path}: it was started with other settings ({', '.join(changed)}){epochs}; "
                         "resume with its settings, or start again with --overwrite or another --out")


def _usable_device(name: str) -> torch.device:
    """resolve_device, refusing a device that torch does not know or this machine does not have."""
    try:
        device = resolve_device(name)
    except RuntimeError:  # torch.device("bogus")
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:<index> or mps")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPUs visible to torch; "
                         "use --device auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS (Apple GPU) is not available here; use --device auto or cpu")
    return device


# ---------------------------------------------------------------------------------------- the command
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
    bits = (bits,) if isinstance(bits, int) else tuple(bits)
    out = Path(out)
    sub_runs = sub_run_dirs(out, method_name, bits)
    methods = [build_method(method_name, group, profile, **overrides) for group in sub_runs]
    config = methods[0].config
    settings = {**config.to_dict(), "bits": list(bits)}
    check_run_folder(out, resume, overwrite)
    if resume and (out / "config.json").exists():
        _check_compatible(read_config(out), settings, out / "config.json")
        for method, sub_run in zip(methods, sub_runs.values()):
            if (sub_run / "checkpoint.pt").exists():
                saved = load_checkpoint(sub_run / "checkpoint.pt", RESTART_REMEDY)
                _check_compatible(saved["config"], method.config.to_dict(), sub_run / "checkpoint.pt")
    device = _usable_device(config.device)
    rank, world = _distributed()
    splits = splits or load_data(config)
    if resume and (out / "splits.npz").exists():
        check_saved_splits(out, splits)
    deep = method_class(method_name).deep
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
            print(f"{method_name} {k} bits: mAP {result['mAP']:.4f} (tie-aware {result['mAP_tie_aware']:.4f})")
    if rank != 0:
        return {}
    report = {
        "method": method_name, "dataset": config.dataset, "protocol": splits.protocol, "profile": profile,
        "config": settings, "results": results,
        "provenance": {"command": command or " ".join(sys.argv), "git_commit": git_commit(), "device": str(device),
                       "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "seconds": round(time.time() - started, 1)},
    }
    save_json(out / "metrics.json", report)
    return report
