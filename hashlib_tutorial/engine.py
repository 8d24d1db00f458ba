"""Training and evaluation: one visible training loop, exact retrieval evaluation, resumable runs.

A run directory holds, per code length (or one for a multi-length method), a sub-directory with
``checkpoint.pt`` (the last epoch, written atomically every epoch), ``best.pt`` (the best validation
mAP) and ``history.json``; and at the top ``config.json``, ``splits.npz`` and ``metrics.json``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import time
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
from .augment import CIFAR_MEAN, CIFAR_STD, BatchAugmenter
from .evaluate import binary_codes, evaluate_method, feature_extractor
from .data import ArrayImages, RetrievalSplits, load_splits
from .losses import CodeMemory
from .methods import Method, TrainConfig, _unwrap, build_method, method_class
from .runs import check_run_folder, check_saved_splits, load_checkpoint, read_config, remove_run, sub_run_dirs


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


def parameter_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool) -> list[dict]:
    """Optimiser parameter groups: weight decay on weight matrices and kernels; on biases and
    normalisation scales (1-D parameters) too only when ``decay_norm_and_bias`` (decaying them only
    shrinks what the next BatchNorm undoes)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_norm_and_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    return [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def _make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config.weight_decay, config.decay_norm_and_bias)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose 'adam', 'rmsprop' or 'sgd'")


def lr_factor(schedule: str, step: int, steps: int, warmup_fraction: float = 0.0) -> float:
    """The learning rate at ``step`` of ``steps`` as a fraction of the peak.

    constant: 1; cosine: (1 + cos(pi t / T)) / 2; warmup_linear: rises linearly from 0 over the first
    warmup_fraction T steps, then falls linearly to 0 at T (the one-cycle shape of fast CIFAR recipes).
    """
    t = min(step, steps) / max(1, steps)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "warmup_linear":
        return t / warmup_fraction if t < warmup_fraction else (1 - t) / max(1e-12, 1 - warmup_fraction)
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose 'constant', 'cosine' or 'warmup_linear'")


def _make_scheduler(config: TrainConfig, optimizer, steps: int):
    lr_factor(config.lr_schedule, 0, steps, config.warmup_fraction)  # refuses an unknown schedule now
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(config.lr_schedule, step, steps, config.warmup_fraction))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision setting, or None for float32.

    "auto": float16 on CUDA (with a gradient scaler), bfloat16 on a CPU with native bfloat16
    instructions (AVX-512 BF16 or AMX), float32 elsewhere. "bf16", "fp16", "fp32" force one.
    """
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        native_bf16 = device.type == "cpu" and torch.backends.mkldnn.is_available() and \
            torch.ops.mkldnn._is_mkldnn_bf16_supported()
        return torch.bfloat16 if native_bf16 else None
    choices = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}
    if precision not in choices:
        raise ValueError(f"unknown precision {precision!r}; choose 'auto', 'bf16', 'fp16' or 'fp32'")
    return choices[precision]


class _WithIndex(Dataset):
    """A dataset whose items also carry their index: (image, label, index)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return (*self.dataset[index], index)


def training_batches(config: TrainConfig, train_set: Dataset, sampler=None):
    """(images, labels, indices) batches of the training set, reshuffled and augmented every epoch.

    Images held in memory (CIFAR-10, mosaics) are augmented a batch at a time (:mod:`augment`);
    image files go through a DataLoader with per-image transforms, as do DDP runs (their sampler).
    Both have a ``generator`` attribute that seeds the epoch.
    """
    if isinstance(train_set, ArrayImages) and sampler is None:
        return BatchAugmenter(train_set.images, train_set.labels, config.batch_size, config.image_size,
                              config.augment, config.cutout)
    return DataLoader(_WithIndex(train_set), batch_size=config.batch_size, shuffle=sampler is None,
                      sampler=sampler, drop_last=True, generator=torch.Generator())


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: training stops at once instead of learning from NaN."""


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
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    optimizer = _make_optimizer(config, model)
    sampler = DistributedSampler(splits.train, world, rank, seed=config.seed, drop_last=True) if world > 1 else None
    loader = training_batches(config, splits.train, sampler)
    if len(loader) == 0:
        raise ValueError(f"{len(splits.train)} training images per process make no batch of {config.batch_size}; "
                         "lower --batch-size or use more data")
    scheduler = _make_scheduler(config, optimizer, config.epochs * len(loader))
    amp_dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    # the DPSH likelihood against every training code (DPSH's reference code), or within the batch
    memory = CodeMemory(splits.labels("train"), method.code_widths(), device) if config.pairs == "memory" else None
    state = {"epoch": 0, "best_val_map": -1.0, "best_epoch": 0, "history": []}
    checkpoint = run_dir / "checkpoint.pt"
    if resume and checkpoint.exists():
        saved = load_checkpoint(checkpoint, RESTART_REMEDY)
        _check_compatible(saved["config"], config.to_dict(), checkpoint)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if memory is not None:
            memory.load_state_dict(saved["memory"])
        state = saved["state"]
        print(f"resuming {run_dir} after epoch {state['epoch']}")
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout: the same on resume
        loader.generator.manual_seed(config.seed * 100_003 + epoch)  # batch order, augmentation: the same on resume
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        started, sums = time.time(), {}
        bar = tqdm(loader, desc=f"{config.method} {'/'.join(map(str, config.bits))} bits, epoch {epoch}/{config.epochs}",
                   disable=not progress or rank != 0, leave=False)
        for step, (images, labels, indices) in enumerate(bar, start=1):
            images = images.to(device, memory_format=memory_format)
            labels = labels.to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                codes, logits = model(images)  # relaxed codes (B, K), class scores (B, C) or None
            codes, logits = codes.float(), None if logits is None else logits.float()
            if memory is not None:  # this batch's rows of U are its new codes (no gradient through U)
                memory.update(indices.to(device), method.codes_by_length(model, codes.detach()))
            loss, parts = method.loss(model, codes, logits, labels, memory)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"{config.method}: the loss is {loss.item()} at epoch {epoch}, step {step} "
                    f"({', '.join(f'{k}={v:.4g}' for k, v in parts.items())}); nothing is learned from here on. "
                    f"Train again with a lower --lr (--overwrite), or check the inputs")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
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
                 "scheduler": scheduler.state_dict(), "state": state, "config": config.to_dict(),
                 **({"memory": memory.state_dict()} if memory is not None else {})}, p))
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
