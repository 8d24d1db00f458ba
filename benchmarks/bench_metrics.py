"""Time hashlib_tutorial's metrics and Hamming index against the field's reference loops.

    python benchmarks/bench_metrics.py

1. mAP@ALL, 1,000 queries x 59,000 items x 64 bits, labels from 10 classes (the `cifar10-1` sizes):
   the reference per-query argsort loop, then `mean_average_precision` with ties="stable" and
   ties="average".
2. 100 queries over 1,000,000 64-bit codes, k = 1,000: a per-query argsort loop, then `HammingIndex`
   with the numpy and the faiss backend.

Each timing is the best of `--repeat` runs (wall clock). Random codes, so the mAP values are near
the 0.1 of chance; only the times matter.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from hashlib_tutorial.index import HammingIndex, faiss
from hashlib_tutorial.metrics import mean_average_precision


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    print("mAP@ALL, 1,000 queries x 59,000 items x 64 bits, 10 classes")
    n_query, n_db, bits, n_classes = 1_000, 59_000, 64, 10
    q_b = np.where(rng.random((n_query, bits)) < 0.5, -1, 1).astype(np.float32)
    r_b = np.where(rng.random((n_db, bits)) < 0.5, -1, 1).astype(np.float32)
    q_y, r_y = rng.integers(0, n_classes, n_query), rng.integers(0, n_classes, n_db)
    one_hot = np.eye(n_classes, dtype=np.float32)
    runs = {
        "reference argsort loop": lambda: reference_map(q_b, r_b, one_hot[q_y], one_hot[r_y]),
        'mean_average_precision(ties="stable")': lambda: mean_average_precision(q_b, r_b, q_y, r_y),
        'mean_average_precision(ties="average")': lambda: mean_average_precision(q_b, r_b, q_y, r_y, ties="average"),
    }
    for name, fn in runs.items():
        seconds, value = best_time(fn, args.repeat)
        print(f"  {name:42s} {seconds:6.3f} s   mAP = {value:.6f}")

    print("k-NN, 100 queries over 1,000,000 codes x 64 bits, k = 1,000")
    n_query, n_db, k = 100, 1_000_000, 1_000
    q_b = np.where(rng.random((n_query, bits)) < 0.5, -1, 1).astype(np.float32)
    r_b = np.where(rng.random((n_db, bits)) < 0.5, -1, 1).astype(np.float32)
    seconds, _ = best_time(lambda: reference_knn(q_b, r_b, k), args.repeat)
    print(f"  {'argsort loop':42s} {seconds:6.3f} s")
    for backend in ("numpy", "faiss") if faiss is not None else ("numpy",):
        index = HammingIndex(bits, backend=backend)
        seconds, _ = best_time(lambda: index.add(r_b), 1)
        print(f"  {f'HammingIndex(backend={backend!r}).add':42s} {seconds:6.3f} s")
        seconds, _ = best_time(lambda: index.search(q_b, k), args.repeat)
        print(f"  {f'HammingIndex(backend={backend!r}).search':42s} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
