r"""Binary codes and labels in, Hamming distances and relevance out: the core every retrieval metric shares.

Conventions (the same in every function of :mod:`metrics` and :mod:`index`):

* codes are {-1, +1} or {0, 1} (one convention per array), numpy arrays or torch tensors of any
  dtype, shape (n, K); +1 and 1 are the "one" bit.
* labels are class indices (n,) or multi-hot (n, C); a database item is relevant to a query when
  they share at least one label (for class indices: the same class).

Distances are exact: a float32 matrix product of +/-1 codes, computed a chunk of queries at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# Query-database pairs per chunk (queries per chunk = this // database size), for the metrics and the
# numpy scan of :mod:`index`. About 2M pairs keeps the distance, relevance and order matrices (14 bytes
# a pair) in a few tens of MB and was the fastest setting measured on a 2-core CPU: much larger chunks
# pay for page faults on fresh memory.
CHUNK_PAIRS = 2**21


# --------------------------------------------------------------------------------------------------
# Validation and conversion
# --------------------------------------------------------------------------------------------------


def to_numpy(x: Any) -> np.ndarray:
    """A numpy view of a numpy array, torch tensor (any device, any dtype) or nested list."""
    if hasattr(x, "detach"):
        # a torch tensor: bfloat16 has no numpy dtype, so widen it first
        x = x.detach().cpu()
        try:
            return x.numpy()
        except TypeError:
            return x.float().numpy()
    return np.asarray(x)


def as_bits(codes: Any, name: str = "codes") -> np.ndarray:
    """Validate binary codes and return them as bits (True for +1 or 1).

    Args:
        codes: {-1, +1} or {0, 1} codes, a numpy array or torch tensor of any dtype.
        name: the argument's name, used in error messages.
    Returns:
        bool array, True where the code is +1 (or 1).
    Shape:
        (n, K) -> (n, K)
    Raises:
        ValueError: codes are not numbers, are not 2-D, are empty, hold values other than {-1, +1} or
            {0, 1}, or mix the two conventions.
    """
    array = to_numpy(codes)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numbers, {{-1, +1}} or {{0, 1}}; got dtype {array.dtype}; "
                         "convert them first, e.g. np.asarray(codes, dtype=np.int8)")
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n, K); got shape {array.shape}; "
                         "reshape a single code with codes[None, :]")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass at least one code of at least one bit")
    is_one = array == 1
    if (is_one | (array == -1)).all() or (is_one | (array == 0)).all():
        return is_one
    found = np.unique(array)
    bad = found[~np.isin(found, (-1, 0, 1))]
    if len(bad) == 0:
        # only -1, 0 and 1, but both -1 and 0 occur
        raise ValueError(f"{name} mixes the {{-1, +1}} and {{0, 1}} conventions (found {found.tolist()}); "
                         "use one convention per array, e.g. (codes > 0) for {0, 1}")
    shown = ", ".join(f"{v:.4g}" for v in bad[:5].tolist()) + (", ..." if len(bad) > 5 else "")
    raise ValueError(f"{name} must contain only {{-1, +1}} or only {{0, 1}}; found values [{shown}]; "
                     "binarise with codes.sign() or (codes > 0)")


def pm1(bits: np.ndarray) -> np.ndarray:
    """Bits (n, K) as float32 +/-1 codes, ready for the inner product."""
    return np.where(bits, np.float32(1), np.float32(-1))


def as_labels(labels: Any, n: int, name: str, codes_name: str) -> np.ndarray:
    """Validate labels: class indices (n,) become int64, multi-hot (n, C) becomes float32 0/1."""
    array = to_numpy(labels)
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be class indices (n,) or multi-hot (n, C); got shape {array.shape}")
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} rows but {codes_name} has {n} codes; pass one label per code")
    if array.ndim == 1:
        integral = array.dtype.kind in "biu" or (
            array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all())
        if not integral:
            raise ValueError(f"{name} of shape (n,) must hold integer class indices; "
                             "for multi-hot labels pass shape (n, C)")
        return array.astype(np.int64)
    if array.shape[1] == 0:
        raise ValueError(f"{name} has shape {array.shape}: no label columns; pass multi-hot labels (n, C) with C >= 1")
    if array.dtype.kind not in "biuf" or not ((array == 0) | (array == 1)).all():
        raise ValueError(f"multi-hot {name} (n, C) must contain only 0 and 1; "
                         "for class indices pass shape (n,)")
    return array.astype(np.float32)


@dataclass(frozen=True)
class Retrieval:
    """Validated inputs of a retrieval evaluation: +/-1 codes and labels of queries and database."""

    query: np.ndarray  # (nq, K) float32 +/-1
    db: np.ndarray  # (n, K) float32 +/-1
    query_labels: np.ndarray  # (nq,) int64 or (nq, C) float32
    db_labels: np.ndarray  # (n,) int64 or (n, C) float32

    @property
    def bits(self) -> int:
        return self.query.shape[1]


def prepare(query_codes: Any, db_codes: Any, query_labels: Any, db_labels: Any) -> Retrieval:
    """Validate and convert the four inputs every retrieval metric takes."""
    query, db = as_bits(query_codes, "query_codes"), as_bits(db_codes, "db_codes")
    if query.shape[1] != db.shape[1]:
        raise ValueError(f"query_codes have K={query.shape[1]} bits but db_codes have K={db.shape[1]}; "
                         "encode queries and database with the same model")
    q_labels = as_labels(query_labels, len(query), "query_labels", "query_codes")
    d_labels = as_labels(db_labels, len(db), "db_labels", "db_codes")
    if q_labels.ndim != d_labels.ndim:
        raise ValueError(f"query_labels have shape {q_labels.shape} but db_labels have shape {d_labels.shape}; "
                         "pass both as class indices (n,) or both as multi-hot (n, C)")
    if q_labels.ndim == 2 and q_labels.shape[1] != d_labels.shape[1]:
        raise ValueError(f"query_labels have C={q_labels.shape[1]} label columns but db_labels have "
                         f"C={d_labels.shape[1]}; pass multi-hot labels over the same classes")
    return Retrieval(pm1(query), pm1(db), q_labels, d_labels)


def check_count(value: Any, name: str) -> int:
    """A positive Python int, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------------
# The shared core: distances, relevance, ranking, per-distance counts
# --------------------------------------------------------------------------------------------------


def distance_dtype(bits: int) -> type:
    """The smallest unsigned type holding 0..K: numpy's stable sort on (u)int8/16 is a radix sort."""
    return np.uint8 if bits <= 255 else np.uint16 if bits <= 65535 else np.uint32


def pm1_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Exact Hamming distances between +/-1 float32 codes, as small unsigned ints.

        <a, b> = (#agreeing bits) - (#differing bits) = K - 2 d(a, b)   =>   d(a, b) = (K - <a, b>) / 2

    Every partial sum of the float32 product is an integer of magnitude <= K, so it is exact for
    K < 2**24 whatever order BLAS adds in, and (K - <a, b>) / 2 is an exact integer.

    Shape:
        (na, K), (nb, K) -> (na, nb)
    """
    bits = a.shape[1]
    inner = a @ b.T  # <a_i, b_j>: (na, nb)
    return ((bits - inner) * 0.5).astype(distance_dtype(bits))


def relevance(query_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """relevant_ij = query i and item j share a label. Shape: (nq,), (n,) or (nq, C), (n, C) -> (nq, n)."""
    if query_labels.ndim == 1:
        return query_labels[:, None] == db_labels[None, :]
    # number of shared labels, exact in float32: (nq, n)
    return query_labels @ db_labels.T > 0


def chance_level(query_labels: Any, db_labels: Any) -> float:
    r"""The fraction of database items relevant to a query, averaged over the queries:

        chance = (1 / nq) sum_i |{j : query i and item j share a label}| / n

    A random ranking's precision; its mAP is close to it. On 10 balanced classes it is 0.1; on
    multi-label data (e.g. mosaics of 4 images) it can be far higher, so compare mAP with it.
    """
    query_labels = as_labels(query_labels, len(to_numpy(query_labels)), "query_labels", "query_labels")
    db_labels = as_labels(db_labels, len(to_numpy(db_labels)), "db_labels", "db_labels")
    step = max(1, CHUNK_PAIRS // len(db_labels))
    relevant = sum(relevance(query_labels[i:i + step], db_labels).sum() for i in range(0, len(query_labels), step))
    return float(relevant / (len(query_labels) * len(db_labels)))


def chunks(data: Retrieval) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Distances (c, n) and relevance (c, n) for successive chunks of c queries (bounds the memory)."""
    step = max(1, CHUNK_PAIRS // len(data.db))
    for start in range(0, len(data.query), step):
        rows = slice(start, start + step)
        yield pm1_distances(data.query[rows], data.db), relevance(data.query_labels[rows], data.db_labels)


def hamming_distance(a: Any, b: Any) -> np.ndarray:
    r"""Number of differing bits between every code of `a` and every code of `b`.

    Computed through the inner product of +/-1 codes (a {0, 1} code c maps to 2c - 1):

        d(a, b) = (K - <a, b>) / 2

    exact for any K below 2**24 (a float32 product of +/-1 entries only ever adds integers).

    Args:
        a: {-1, +1} or {0, 1} codes, numpy or torch.
        b: codes of the same length K.
    Returns:
        int64 distances in 0..K.
    Shape:
        (na, K), (nb, K) -> (na, nb)
    """
    a_bits, b_bits = as_bits(a, "a"), as_bits(b, "b")
    if a_bits.shape[1] != b_bits.shape[1]:
        raise ValueError(f"a has K={a_bits.shape[1]} bits but b has K={b_bits.shape[1]}; "
                         "compare codes of the same length")
    return pm1_distances(pm1(a_bits), pm1(b_bits)).astype(np.int64)
