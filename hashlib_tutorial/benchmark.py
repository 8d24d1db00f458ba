"""``python -m hashlib_tutorial benchmark``: the speed figures the README and the papers quote, in one run.

1. encode time per image of each model (batch 256, this machine's device); DAH reports 5,280 us;
2. the time cost of each attention module: a training step of the same backbone with and without it,
   and of the NHWC memory layout (``channels_last``) against NCHW;
3. exact mAP@ALL, 1,000 queries x 59,000 items x 64 bits: ours against the field's per-query argsort loop;
4. k-NN search, 100 queries over 1,000,000 64-bit codes, k = 1,000: argsort loop, numpy and faiss;
5. ADMTH's claim: training all four code lengths at once against four single-length models
   (same steps, same data); the paper measured 209.6 s vs 629.8 s, a ratio of 0.33.

Random inputs and codes: only the times matter. Each timing is the best of ``repeat`` runs.
``benchmark --write`` saves the report as ``results/benchmark.json`` and regenerates the README's speed
table from it, under the name of the machine that measured it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import PROJECT_ROOT
from .report.papers import PAPER_ADMTH_SECONDS, PAPER_DAH_ENCODE_US
from .report.tables import fill_report, machine
from .retrieval.index import HammingIndex, faiss
from .retrieval.metrics import mean_average_precision
from .training.registry import build_method, method_for
from .training.runs import hardware, resolve_device, save_json

SPEED_MARKERS = ("<!-- speed table: generated from results/benchmark.json by benchmark --write -->",
                 "<!-- end of speed table -->")


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The fastest of `repeat` calls of fn, in seconds, and fn's result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def reference_map(q_b: np.ndarray, r_b: np.ndarray, q_l: np.ndarray, r_l: np.ndarray) -> float:
    """The field's reference mAP@ALL loop (+/-1 codes, one-hot labels), rewritten from its description."""
    num_query, bits = q_b.shape
    total = 0.0
    for i in range(num_query):
        gnd = (q_l[i] @ r_l.T > 0).astype(np.float32)
        hamm = 0.5 * (bits - r_b @ q_b[i])
        # quicksort: ties come out in arbitrary order
        ind = np.argsort(hamm)
        gnd = gnd[ind]
        tsum = int(np.sum(gnd))
        if tsum == 0:
            continue
        count = np.linspace(1, tsum, tsum)
        tindex = np.asarray(np.where(gnd == 1)).flatten() + 1.0
        total += np.mean(count / tindex)
    return total / num_query


def reference_knn(q_b: np.ndarray, r_b: np.ndarray, k: int) -> np.ndarray:
    """k nearest neighbours by a per-query argsort of the float distances."""
    bits = q_b.shape[1]
    return np.stack([np.argsort(0.5 * (bits - r_b @ q))[:k] for q in q_b])



def _random_codes(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    return np.where(rng.random((n, bits)) < 0.5, -1, 1).astype(np.float32)


def encode_times(device: torch.device, batch: int, repeat: int) -> dict[str, float]:
    """Microseconds per image to encode a batch, for each model at its quick (and DAH's paper) size."""
    cases = {"dah (paper width)": ("dah", 12, {"backbone_kwargs": {"width": 1.0}}), "dah (quick, 1/4 width)": ("dah", 12, {}),
             "dpfah": ("dpfah", 32, {}), "dpsh": ("dpsh", 32, {}), "admth (4 lengths)": ("admth", (16, 32, 48, 64), {})}
    out = {}
    for label, (name, bits, overrides) in cases.items():
        method = build_method(name, bits, **overrides)
        model = method.build_model(num_classes=10).to(device).eval()
        x = torch.randn(batch, 3, method.config.image_size, method.config.image_size, device=device)
        with torch.no_grad():
            model(x)  # warm-up
            seconds, _ = best_time(lambda: model(x), repeat)
        out[label] = round(1e6 * seconds / batch, 1)
    return out


def attention_costs(device: torch.device, batch: int, repeat: int) -> dict[str, float]:
    """Time of a training step with attention / without, same backbone (a ratio; 1.0 = free)."""
    cases = {  # label: (method, fields replaced with attention, without; backbone_kwargs replaced whole)
        "SimAM at the stem, ResNet-18 (DPFAH)": ("dpfah", {}, {"attention": None}),
        "SimAM in every block, ResNet-18": ("dpfah", {"backbone_kwargs": {"stem": "imagenet", "placement": "blocks"}},
                                            {"attention": None}),
        "SE in every block, ResNet-18": ("dpfah", {"attention": "se", "backbone_kwargs": {"stem": "imagenet",
                                                  "placement": "blocks"}}, {"attention": None}),
        "CBAM, DAH ResNet-30 (1/4 width)": ("dah", {}, {"attention": None}),
        "SE in every block, ResNet-18 1/4 width (ADMTH's CPU trunk)": ("admth", {}, {"attention": None}),
    }
    out = {}
    for label, (name, with_attention, without) in cases.items():
        bits = (16, 32, 48, 64) if name == "admth" else 32
        times = []
        for fields in (with_attention, without):
            quick = build_method(name, bits).config
            method = method_for(dataclasses.replace(quick, **fields))
            times.append(_step_time(method, device, batch, repeat))
        out[label] = round(times[0] / times[1], 2)
    return out


def layout_costs(device: torch.device, batch: int, repeat: int) -> dict[str, float]:
    """Time of a training step of each quick network in NHWC (``channels_last``) / in NCHW, the default:
    which layout is faster depends on the processor."""
    out = {}
    for name, bits in (("dpfah", 32), ("dah", 48), ("admth", (16, 32, 48, 64))):
        method = build_method(name, bits)
        nhwc, nchw = (_step_time(method, device, batch, repeat, memory_format=layout)
                      for layout in (torch.channels_last, torch.contiguous_format))
        out[name] = round(nhwc / nchw, 2)
    return out


def _step_time(method, device: torch.device, batch: int, repeat: int, steps: int = 1,
               memory_format: torch.memory_format = torch.contiguous_format) -> float:
    """Seconds for ``steps`` training steps (forward, the method's loss, backward, update) on random data."""
    torch.manual_seed(0)
    model = method.build_model(num_classes=10).to(device, memory_format=memory_format).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    size = method.config.image_size
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=memory_format)
    y = torch.arange(batch, device=device) % 10

    def run():
        for _ in range(steps):
            codes, logits = model(x)
            loss, _ = method.loss(model, codes, logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    run()  # warm-up
    return best_time(run, repeat)[0]


def multi_length_training(device: torch.device, batch: int, steps: int, repeat: int) -> dict[str, float]:
    """ADMTH's Table 3 at our scale: one model with four branches vs four single-length models."""
    lengths = (16, 32, 48, 64)
    together = _step_time(build_method("admth", lengths), device, batch, repeat, steps)
    one_by_one = sum(_step_time(build_method("admth", (k,)), device, batch, repeat, steps) for k in lengths)
    paper = PAPER_ADMTH_SECONDS
    return {"all four lengths at once (s)": round(together, 2), "four single-length runs (s)": round(one_by_one, 2),
            "ratio": round(together / one_by_one, 2),
            f"paper ratio ({paper['multi-length']} s / {paper['four single-length runs']} s)":
                round(paper["multi-length"] / paper["four single-length runs"], 2)}


def map_times(rng, n_query: int, n_db: int, repeat: int) -> dict[str, float]:
    bits, classes = 64, 10
    q_b, r_b = _random_codes(rng, n_query, bits), _random_codes(rng, n_db, bits)
    q_y, r_y = rng.integers(0, classes, n_query), rng.integers(0, classes, n_db)
    one_hot = np.eye(classes, dtype=np.float32)
    return {
        "reference argsort loop (s)": round(best_time(lambda: reference_map(q_b, r_b, one_hot[q_y], one_hot[r_y]), repeat)[0], 3),
        "mean_average_precision, stable ties (s)": round(best_time(lambda: mean_average_precision(q_b, r_b, q_y, r_y), repeat)[0], 3),
        "mean_average_precision, tie-aware (s)": round(best_time(lambda: mean_average_precision(q_b, r_b, q_y, r_y, ties="average"), repeat)[0], 3),
    }


def search_times(rng, n_query: int, n_db: int, k: int, repeat: int) -> dict[str, float]:
    bits = 64
    q_b, r_b = _random_codes(rng, n_query, bits), _random_codes(rng, n_db, bits)
    out = {"argsort loop (s)": round(best_time(lambda: reference_knn(q_b, r_b, k), repeat)[0], 3)}
    for backend in ("numpy", "faiss") if faiss is not None else ("numpy",):
        index = HammingIndex(bits, backend=backend)
        index.add(r_b)
        out[f"HammingIndex {backend} (s)"] = round(best_time(lambda: index.search(q_b, k), repeat)[0], 3)
    return out


def run_benchmark(quick: bool = False) -> dict:
    """Every figure, measured now on this machine; ``quick`` shrinks the sizes for a smoke test."""
    device, rng, started = resolve_device(), np.random.default_rng(0), time.time()
    batch, repeat = (8, 1) if quick else (256, 3)
    sizes = dict(n_query=20, n_db=2_000) if quick else dict(n_query=1_000, n_db=59_000)
    search = dict(n_query=10, n_db=10_000, k=100) if quick else dict(n_query=100, n_db=1_000_000, k=1_000)
    report = {
        "device": str(device), "hardware": hardware(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "batch": batch, "best_of": repeat,
        "encode_us_per_image": encode_times(device, batch, repeat),
        "attention_time_ratio": attention_costs(device, 8 if quick else 64, repeat),
        "layout_time_ratio": layout_costs(device, 8 if quick else 64, repeat),
        f"mAP@ALL {sizes['n_query']} x {sizes['n_db']} x 64 bits": map_times(rng, **sizes, repeat=repeat),
        f"k-NN {search['n_query']} x {search['n_db']} x 64 bits, k={search['k']}": search_times(rng, **search, repeat=repeat),
        "admth_multi_length_training": multi_length_training(device, 8 if quick else 128, 1 if quick else 5, repeat),
    }
    return {**report, "seconds": round(time.time() - started, 1)}


def _machine(report: dict) -> str:
    return f"{machine(report)}, torch {report['torch']}"  # "cpu: AMD EPYC (AVX2), 2 threads, torch 2.14.1"


def _sections(report: dict) -> dict[str, dict]:
    return {name: values for name, values in report.items() if isinstance(values, dict) and name != "hardware"}


def format_benchmark(report: dict) -> str:
    """The report as indented text."""
    lines = [_machine(report)]
    for section, values in _sections(report).items():
        lines.append(section)
        lines += [f"  {name:45s} {value}" for name, value in values.items()]
    return "\n".join(lines)


def _figure(value: float) -> str:
    """15,013 or 895; 1.24, 0.115: three significant digits, never an exponent."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def speed_table(report: dict) -> str:
    """The README's speed table: every figure of a saved benchmark, under the machine that measured it."""
    titles = {
        "encode_us_per_image": f"encode time per image (us), batch {report['batch']}; the DAH paper: "
                               f"{PAPER_DAH_ENCODE_US:,} us on its GPU",
        "attention_time_ratio": "a training step with attention / without (a ratio below 1 is timing noise: "
                                "the step with attention does more work)",
        "layout_time_ratio": "a training step of the quick network in NHWC / NCHW (below 1: `--set "
                             "channels_last=true` trains faster on this machine)",
        "admth_multi_length_training": "ADMTH: training steps, four lengths at once vs four single-length models",
    }
    lines = [f"Measured by `python -m hashlib_tutorial benchmark --write` on {_machine(report)}; best of "
             f"{report['best_of']}; {report['seconds']:,.0f} s for the whole command.", "",
             "| what | measured |", "|---|---|"]
    for section, values in _sections(report).items():
        lines.append(f"| {titles.get(section, section)} | "
                     + "; ".join(f"{name} {_figure(value)}" for name, value in values.items()) + " |")
    return "\n".join(lines) + "\n"


def write_benchmark(report: dict, root: Path = PROJECT_ROOT) -> None:
    """Save ``report`` as results/benchmark.json and regenerate the README's speed table from it."""
    fill_report(root / "README.md", report, speed_table(report), SPEED_MARKERS)  # refuses a README without the block first
    save_json(root / "results" / "benchmark.json", report)
