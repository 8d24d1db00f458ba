r"""Retrieval metrics for binary hash codes: mAP, PR curve, P@N, precision within a Hamming radius and
bit balance.

Codes and labels follow the conventions of :mod:`hamming`. A query with no relevant item scores 0 and
still counts in the mean (most of the field's code does this; one official release leaves such
queries out instead).

Every metric reuses one core (:mod:`hamming`): exact Hamming distances for a chunk of queries, the
relevance matrix of that chunk; then either a stable ranking (a radix sort of small unsigned
distances) or per-distance counts. No Python loop runs over database items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .hamming import as_bits, check_count, chunks, prepare

TIES = ("stable", "average")


def _ranked_relevance(dist: np.ndarray, relevant: np.ndarray, k: int) -> np.ndarray:
    """Relevance of the top k items of each query, ranked by distance, ties in database order.

    Shape:
        (c, n), (c, n) -> (c, k)
    """
    # stable: equal distances keep database order (a one-pass radix sort on uint8 distances)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(relevant, order, axis=1)


def _distance_counts(dist: np.ndarray, relevant: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query and distance d = 0..K: the number of items n_d and of relevant items r_d.

    One bincount over the key ((query * (K + 1) + d) * 2 + relevant) counts both at once.

    Shape:
        (c, n), (c, n) -> (c, K + 1), (c, K + 1)
    """
    c = len(dist)
    row = np.arange(c, dtype=np.int64)[:, None]
    key = (row * (bits + 1) + dist) * 2 + relevant
    counts = np.bincount(key.ravel(), minlength=c * (bits + 1) * 2).reshape(c, bits + 1, 2)
    return counts.sum(axis=2), counts[:, :, 1]


def _average_precision(hits: np.ndarray) -> np.ndarray:
    r"""AP of each row of a ranked relevance matrix: (1/R_k) sum_{r <= k, rel(r)} (hits in 1..r) / r.

    Only the hits are visited: the t-th hit of a row, at rank r_t, adds t / r_t. A row without hits
    scores 0.

    Shape:
        (c, k) -> (c,)
    """
    c = len(hits)
    # row-major: within each row the hits come in rank order
    rows, cols = np.nonzero(hits)
    # R_k, and where each row's first hit sits in `rows`: (c,)
    n_hits = np.bincount(rows, minlength=c)
    first = np.cumsum(n_hits) - n_hits
    # t: hits among ranks 1..r_t, at the hit of rank r_t = cols + 1
    t = np.arange(len(rows)) - first[rows] + 1
    precision_sum = np.bincount(rows, weights=t / (cols + 1.0), minlength=c)
    return np.divide(precision_sum, n_hits, out=np.zeros(c), where=n_hits > 0)


def _expected_precision_sum(before: np.ndarray, hits_before: np.ndarray, n: np.ndarray, r: np.ndarray,
                            harmonic: np.ndarray) -> np.ndarray:
    r"""Expected sum of precisions at the relevant items of a randomly ordered tie group.

    A group of n items holding r relevant ones follows N = `before` items holding R = `hits_before`
    relevant ones. Position p = 1..n of the group is relevant with probability a = r / n; given that,
    the other r - 1 relevant items fill r - 1 of the other n - 1 positions uniformly at random, so
    (p - 1)(r - 1)/(n - 1) of them are before it in expectation. With b = (r - 1)/(n - 1) (0 for n = 1),

        S = sum_{p=1..n} a (R + 1 + (p - 1) b) / (N + p)
          = a [ n b + (R + 1 - b (N + 1)) (H_{N+n} - H_N) ],     H_i = sum_{j=1..i} 1/j,

    using R + 1 + (p - 1) b = b (N + p) + (R + 1 - b (N + 1)). S = 0 for an empty group.

    Args:
        before: N, items ranked before the group.
        hits_before: R, relevant items ranked before the group.
        n: group size.
        r: relevant items in the group.
        harmonic: H_0 .. H_max as a float64 table.
    Shape:
        all broadcastable to one shape; returns that shape.
    """
    a = r / np.maximum(n, 1)
    b = np.where(n > 1, (r - 1) / np.maximum(n - 1, 1), 0.0)
    return a * (n * b + (hits_before + 1 - b * (before + 1)) * (harmonic[before + n] - harmonic[before]))


def _tie_aware_average_precision(n: np.ndarray, r: np.ndarray, k: int, harmonic: np.ndarray) -> np.ndarray:
    r"""Expected AP@k of each query over random orders within tie groups, from per-distance counts.

    Groups d < g (g = the group holding rank k) lie wholly in the top k: their expected precision
    sums S_d add up. The first q = k - N_g positions of group g are cut in: m of its r_g relevant
    items land there with hypergeometric probability
    P(m) = C(r_g, m) C(n_g - r_g, q - m) / C(n_g, q), and given m the cut part is a random order of
    q items holding m relevant ones. The denominator R_k = R_g + m depends only on m, so

        E[AP@k] = sum_m P(m) (sum_{d<g} S_d + S(N_g, R_g, q, m)) / (R_g + m)    (0 when R_g + m = 0).

    For k = n_db (mAP@ALL) g is the last group, q = n_g and P is a point mass at m = r_g.

    Args:
        n: items per distance, (c, K + 1).
        r: relevant items per distance, (c, K + 1).
        k: cut-off, 1 <= k <= database size.
        harmonic: H_0 .. H_n as a float64 table, n = database size.
    Returns:
        (c,) expected AP@k.
    """
    c = len(n)
    # N_d, R_d: items and relevant items at smaller distances: (c, K + 1)
    before, hits_before = np.cumsum(n, axis=1) - n, np.cumsum(r, axis=1) - r
    # g: the group holding rank k (the first d with N_d + n_d >= k): (c,)
    g = np.argmax(before + n >= k, axis=1)
    full_groups = np.arange(n.shape[1])[None, :] < g[:, None]
    full_sum = np.where(full_groups, _expected_precision_sum(before, hits_before, n, r, harmonic), 0.0).sum(axis=1)

    # the cut group g, (c, 1) each, and q of its positions inside the top k
    rows = np.arange(c)
    N, R = before[rows, g][:, None], hits_before[rows, g][:, None]
    n_g, r_g = n[rows, g][:, None], r[rows, g][:, None]
    q = k - N
    # m: relevant items among the q cut-in positions, on a (c, M) grid of its possible values
    m_low, m_high = np.maximum(0, q - (n_g - r_g)), np.minimum(r_g, q)
    step = np.arange((m_high - m_low).max() + 1)[None, :]
    m = m_low + step
    valid = m <= m_high
    # P(m) / P(m - 1) = (r_g - m + 1)(q - m + 1) / (m (n_g - r_g - q + m)): a cumulative product of
    # ratios, normalised, avoids the huge factorials of C(., .) (1 outside the valid range)
    later = valid & (step > 0)
    ratio = np.divide((r_g - m + 1) * (q - m + 1), m * (n_g - r_g - q + m), out=np.ones(m.shape), where=later)
    log_weight = np.cumsum(np.log(ratio), axis=1)
    weight = np.where(valid, np.exp(log_weight - log_weight.max(axis=1, keepdims=True)), 0.0)
    probability = weight / weight.sum(axis=1, keepdims=True)
    m = np.where(valid, m, m_low)
    numerator = full_sum[:, None] + _expected_precision_sum(N, R, q, m, harmonic)
    ap_given_m = np.divide(numerator, R + m, out=np.zeros(m.shape), where=R + m > 0)
    return (probability * ap_given_m).sum(axis=1)


# --------------------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------------------


def mean_average_precision(query_codes: Any, db_codes: Any, query_labels: Any, db_labels: Any,
                           topk: int | None = None, ties: str = "stable") -> float:
    r"""mAP@k: mean over queries of the average precision of the top k items ranked by Hamming distance.

        AP@k = (1 / R_k) sum_{r=1..k} rel(r) P(r),      P(r) = (1/r) sum_{i=1..r} rel(i)

    where rel(r) = 1 if the item at rank r shares a label with the query and R_k = sum_{r<=k} rel(r).
    A query with R_k = 0 scores 0 and still counts in the mean. (k is the cut-off, K the code length.)

    Ties. With K-bit codes there are only K + 1 distinct distances, so for short codes large groups
    of items sit at the same distance and the order inside a group changes mAP (by 0.3-0.4 points at
    16 bits in the field's reference code, whose quicksort leaves that order arbitrary).

    * ``ties="stable"``: ties keep database order (a stable radix sort). Deterministic, but it depends
      on the order of the database.
    * ``ties="average"``: the expected AP over uniformly random orders within each tie group, in
      closed form from the per-distance counts, so independent of database order. For a group of
      n items holding r relevant ones, preceded by N items holding R relevant ones, the item at
      position p = 1..n of the group is relevant with probability r/n and, given that, has
      (p - 1)(r - 1)/(n - 1) relevant group members before it in expectation, so the group adds

          sum_{p=1..n} (r/n) (R + 1 + (p - 1)(r - 1)/(n - 1)) / (N + p)     ((r-1)/(n-1) := 0 for n = 1)

      to the expected sum of precisions (in closed form with harmonic numbers). For mAP@ALL the
      denominator R_k is the fixed number of relevant items, so this is exact. When the cut k falls
      inside a tie group, R_k is random: the number m of the group's relevant items among its first
      q = k - N positions is hypergeometric, and each m contributes the same sum over p = 1..q (with
      m, q in place of r, n) divided by R + m, weighted by P(m); R + m = 0 contributes 0.

    Differences from the field's reference code: `topk=None` means all items (its -1 silently drops
    the last database item); ties are stable or averaged instead of left to quicksort.

    Args:
        query_codes: {-1, +1} or {0, 1} codes (nq, K), numpy or torch.
        db_codes: database codes (n, K).
        query_labels: class indices (nq,) or multi-hot (nq, C).
        db_labels: class indices (n,) or multi-hot (n, C).
        topk: k of mAP@k, a positive int; None, or any value >= n, means all items (mAP@ALL).
        ties: "stable" or "average", see above.
    Returns:
        mAP as a float in [0, 1].
    """
    data = prepare(query_codes, db_codes, query_labels, db_labels)
    n_db = len(data.db)
    k = n_db if topk is None else min(check_count(topk, "topk (None for all items)"), n_db)
    if ties not in TIES:
        raise ValueError(f"unknown ties={ties!r}; choose one of {list(TIES)}")
    if ties == "average":
        # H_i = sum_{j=1..i} 1/j for i = 0..n: the sums over p of the closed form
        harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n_db + 1))])
    total = 0.0
    for dist, relevant in chunks(data):
        if ties == "stable":
            total += _average_precision(_ranked_relevance(dist, relevant, k)).sum()
        else:
            # n_d, r_d for d = 0..K: (c, K + 1) each
            n, r = _distance_counts(dist, relevant, data.bits)
            total += _tie_aware_average_precision(n, r, k, harmonic).sum()
    return float(total / len(data.query))


def precision_recall_curve(query_codes: Any, db_codes: Any, query_labels: Any,
                           db_labels: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Precision and recall of Hamming-ball retrieval at every radius r = 0..K, averaged over queries.

    For a query, the items with distance <= r are retrieved:

        precision(r) = (relevant retrieved) / (retrieved),   recall(r) = (relevant retrieved) / (relevant in db)

    A query that retrieves nothing at radius r has precision 0 there, and a query with no relevant
    item in the database has recall 0 (both still count in the mean). Tie order plays no role.

    Args:
        query_codes: {-1, +1} or {0, 1} codes (nq, K), numpy or torch.
        db_codes: database codes (n, K).
        query_labels: class indices (nq,) or multi-hot (nq, C).
        db_labels: class indices (n,) or multi-hot (n, C).
    Returns:
        (precision, recall), float64 arrays indexed by the radius.
    Shape:
        precision: (K + 1,); recall: (K + 1,)
    """
    data = prepare(query_codes, db_codes, query_labels, db_labels)
    precision, recall = np.zeros(data.bits + 1), np.zeros(data.bits + 1)
    for dist, relevant in chunks(data):
        n, r = _distance_counts(dist, relevant, data.bits)
        # items and relevant items within radius 0..K: (c, K + 1)
        retrieved, hits = np.cumsum(n, axis=1), np.cumsum(r, axis=1)
        precision += np.divide(hits, retrieved, out=np.zeros(hits.shape), where=retrieved > 0).sum(axis=0)
        n_relevant = hits[:, -1:]
        recall += np.divide(hits, n_relevant, out=np.zeros(hits.shape), where=n_relevant > 0).sum(axis=0)
    return precision / len(data.query), recall / len(data.query)


def precision_at_n(query_codes: Any, db_codes: Any, query_labels: Any, db_labels: Any,
                   n_values: int | Sequence[int], ties: str = "stable") -> np.ndarray:
    r"""P@N: mean over queries of the fraction of relevant items among the top N.

        P@N = (1/N) sum_{r=1..N} rel(r)

    ``ties="stable"`` ranks ties in database order; ``ties="average"`` gives the expected P@N over random
    orders within tie groups, E[hits] = sum_d r_d clip((N - N_d) / n_d, 0, 1) (N_d items before distance d).

    Args:
        query_codes: {-1, +1} or {0, 1} codes (nq, K), numpy or torch.
        db_codes: database codes (n, K).
        query_labels: class indices (nq,) or multi-hot (nq, C).
        db_labels: class indices (n,) or multi-hot (n, C).
        n_values: one N or a sequence of N, each in 1..n.
        ties: "stable" or "average", see above.
    Returns:
        float64 array, P@N for each N in `n_values`.
    Shape:
        (len(n_values),), or (1,) for a single N.
    """
    data = prepare(query_codes, db_codes, query_labels, db_labels)
    ns = np.array([check_count(n, "each N in n_values") for n in np.atleast_1d(n_values).tolist()], dtype=np.int64)
    if len(ns) == 0:
        raise ValueError("n_values is empty; pass at least one N, e.g. [100, 500, 1000]")
    if ns.max() > len(data.db):
        raise ValueError(f"N={ns.max()} is larger than the database ({len(data.db)} items); pass N <= {len(data.db)}")
    if ties not in TIES:
        raise ValueError(f"unknown ties={ties!r}; choose one of {list(TIES)}")
    total = np.zeros(len(ns))
    for dist, relevant in chunks(data):
        if ties == "stable":  # hits among ranks 1..N: (c, len(ns))
            hits = np.cumsum(_ranked_relevance(dist, relevant, int(ns.max())), axis=1)[:, ns - 1]
        else:  # n_d, r_d: (c, K + 1); the share of each distance's group inside the top N: (c, K + 1, len(ns))
            n, r = _distance_counts(dist, relevant, data.bits)
            share = np.clip((ns - (np.cumsum(n, axis=1) - n)[:, :, None]) / np.maximum(n, 1)[:, :, None], 0, 1)
            hits = (r[:, :, None] * share).sum(axis=1)
        total += (hits / ns).sum(axis=0)
    return total / len(data.query)


def precision_within_radius(query_codes: Any, db_codes: Any, query_labels: Any, db_labels: Any,
                            radius: int = 2) -> float:
    r"""Mean precision of the items within Hamming distance `radius` of each query (default 2).

        P_{<=r} = (relevant items with d <= r) / (items with d <= r),   0 if the ball is empty

    Counting an empty ball as precision 0 is the convention of the original TensorFlow DeepHash
    evaluation; it penalises long codes, whose radius-2 balls are often empty. This is
    `precision_recall_curve(...)[0][radius]` (a radius >= K retrieves everything).

    Args:
        query_codes: {-1, +1} or {0, 1} codes (nq, K), numpy or torch.
        db_codes: database codes (n, K).
        query_labels: class indices (nq,) or multi-hot (nq, C).
        db_labels: class indices (n,) or multi-hot (n, C).
        radius: Hamming radius r >= 0.
    Returns:
        mean precision as a float in [0, 1].
    """
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ValueError(f"radius must be an int >= 0; got {radius!r}")
    precision, _ = precision_recall_curve(query_codes, db_codes, query_labels, db_labels)
    return float(precision[min(int(radius), len(precision) - 1)])


@dataclass(frozen=True)
class BitBalance:
    """How evenly each bit splits a set of codes (DAH Table 5 style).

    Attributes:
        fraction_ones: p_k, the fraction of codes whose bit k is +1 (or 1), shape (K,).
        ones_to_zeros: p_k / (1 - p_k), ones per zero of bit k (inf for a bit that is always one),
            shape (K,). A balanced bit has 1.
        mean_abs_deviation: (1/K) sum_k |p_k - 0.5|; 0 for perfectly balanced bits, 0.5 for constant bits.
    """

    fraction_ones: np.ndarray
    ones_to_zeros: np.ndarray
    mean_abs_deviation: float


def bit_balance(codes: Any) -> BitBalance:
    r"""Per-bit balance of a set of codes: fraction of ones, ones-to-zeros ratio, mean |p_k - 0.5|.

        p_k = (1/n) sum_i [b_ik = 1],   ratio_k = p_k / (1 - p_k),   MAD = (1/K) sum_k |p_k - 0.5|

    Args:
        codes: {-1, +1} or {0, 1} codes (n, K), numpy or torch; +1 and 1 count as ones.
    Returns:
        a `BitBalance`.
    """
    bits = as_bits(codes, "codes")
    # ones and zeros per bit: (K,)
    ones = bits.sum(axis=0)
    zeros = len(bits) - ones
    fraction = ones / len(bits)
    ratio = np.divide(ones, zeros, out=np.full(fraction.shape, np.inf), where=zeros > 0)
    return BitBalance(fraction, ratio, float(np.abs(fraction - 0.5).mean()))
