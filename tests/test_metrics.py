"""Tests of hashlib_tutorial.retrieval (hamming, metrics) against definitions written as plain Python loops."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from hashlib_tutorial.retrieval import hamming
from hashlib_tutorial.retrieval.hamming import hamming_distance
from hashlib_tutorial.retrieval.metrics import (
    bit_balance,
    mean_average_precision,
    precision_at_n,
    precision_recall_curve,
    precision_within_radius,
)

# --------------------------------------------------------------------------------------------------
# Brute-force references, straight from the definitions
# --------------------------------------------------------------------------------------------------


def is_one(code_value) -> bool:
    return float(code_value) > 0


def loop_distance(a, b) -> int:
    return sum(is_one(x) != is_one(y) for x, y in zip(a, b))


def loop_relevant(label_a, label_b) -> bool:
    if np.ndim(label_a) == 0:
        return int(label_a) == int(label_b)
    return any(x and y for x, y in zip(label_a, label_b))


def loop_ranking(query, db):
    """Database indices sorted by (distance, index), and the distances."""
    dist = [loop_distance(query, item) for item in db]
    return sorted(range(len(db)), key=lambda j: (dist[j], j)), dist


def loop_map(q, d, ql, dl, topk=None) -> float:
    """mAP@K: walk each query's ranked list, add hits/rank at every hit, divide by the hits."""
    q, d, ql, dl = (np.asarray(x) for x in (q, d, ql, dl))
    k = len(d) if topk is None else min(topk, len(d))
    aps = []
    for i in range(len(q)):
        order, _ = loop_ranking(q[i], d)
        hits, precision_sum = 0, 0.0
        for rank, j in enumerate(order[:k], start=1):
            if loop_relevant(ql[i], dl[j]):
                hits += 1
                precision_sum += hits / rank
        aps.append(precision_sum / hits if hits else 0.0)
    return sum(aps) / len(aps)


def make_data(seed, n_query=5, n_db=40, bits=8, convention="pm1", labels="single", n_classes=4):
    rng = np.random.default_rng(seed)
    q, d = rng.integers(0, 2, (n_query, bits)), rng.integers(0, 2, (n_db, bits))
    if convention == "pm1":
        q, d = 2 * q - 1, 2 * d - 1
    if labels == "single":
        ql, dl = rng.integers(0, n_classes, n_query), rng.integers(0, n_classes, n_db)
    else:
        ql, dl = (rng.random((n_query, n_classes)) < 0.3) * 1, (rng.random((n_db, n_classes)) < 0.3) * 1
    return q, d, ql, dl


def to_torch(*arrays):
    return tuple(torch.as_tensor(a) for a in arrays)


def k_inside_a_tie_group(q, d) -> int:
    """A cut-off K that falls strictly inside a tie group of query 0's ranking."""
    order, dist = loop_ranking(q[0], d)
    ranked = [dist[j] for j in order]
    for k in range(1, len(ranked)):
        if ranked[k - 1] == ranked[k] and k >= 2 and ranked[k - 2] == ranked[k - 1]:
            return k
    raise AssertionError("no tie group of 3 or more items")


# --------------------------------------------------------------------------------------------------
# mAP, ties="stable"
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [4, 8, 64])
@pytest.mark.parametrize("convention", ["pm1", "01"])
@pytest.mark.parametrize("labels", ["single", "multi"])
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_map_equals_the_definition_written_as_a_loop(bits, convention, labels, library):
    q, d, ql, dl = make_data(bits, bits=bits, convention=convention, labels=labels)
    inputs = to_torch(q, d, ql, dl) if library == "torch" else (q, d, ql, dl)
    topks = [None, 1, 5, 17, len(d), len(d) + 5]
    if bits <= 8:
        topks.append(k_inside_a_tie_group(q, d))
    for topk in topks:
        expected = loop_map(q, d, ql, dl, topk)
        assert mean_average_precision(*inputs, topk=topk) == pytest.approx(expected, abs=1e-9), topk


def test_map_on_a_hand_computed_ranking():
    # distances 0, 1, 2, 3 to the query; relevance by rank [1, 0, 1, 0]
    query = np.array([[1, 1, 1]])
    db = np.array([[1, 1, 1], [-1, 1, 1], [-1, -1, 1], [-1, -1, -1]])
    query_labels, db_labels = np.array([0]), np.array([0, 1, 0, 1])
    expected = Fraction(1, 2) * (Fraction(1, 1) + Fraction(2, 3))
    for ties in ("stable", "average"):
        assert mean_average_precision(query, db, query_labels, db_labels, ties=ties) == pytest.approx(float(expected), abs=1e-15)
    # top 2 holds one hit, at rank 1
    assert mean_average_precision(query, db, query_labels, db_labels, topk=2) == 1.0


def test_query_without_relevant_items_counts_as_zero_in_the_mean():
    query = np.array([[1, 1, 1], [1, 1, 1]])
    db = np.array([[1, 1, 1], [-1, 1, 1], [-1, -1, 1], [-1, -1, -1]])
    # query 1 has class 7, absent from the database
    value = mean_average_precision(query, db, np.array([0, 7]), np.array([0, 1, 0, 1]))
    assert value == pytest.approx((1 + 2 / 3) / 2 / 2, abs=1e-15)


def test_last_database_item_is_not_dropped():
    # only the farthest (last) item is relevant: AP = 1 / n; the field's topk=-1 would give 0
    bits = 5
    db = np.tril(np.ones((bits + 1, bits)), k=-1)  # row j has j ones: distance j to the all-zero query
    query = np.zeros((1, bits))
    db_labels = np.array([0] * bits + [1])
    for ties in ("stable", "average"):
        assert mean_average_precision(query, db, np.array([1]), db_labels, ties=ties) == pytest.approx(1 / (bits + 1))


def test_map_accepts_torch_codes_of_any_dtype():
    q, d, ql, dl = make_data(0, convention="pm1")
    expected = mean_average_precision(q, d, ql, dl)
    for dtype in (torch.float16, torch.bfloat16, torch.int8, torch.float64):
        value = mean_average_precision(torch.as_tensor(q, dtype=dtype), torch.as_tensor(d, dtype=dtype), ql, dl)
        assert value == expected
    assert mean_average_precision(torch.as_tensor(q) > 0, torch.as_tensor(d) > 0, ql, dl) == expected


def test_metrics_do_not_depend_on_the_chunk_size(monkeypatch):
    q, d, ql, dl = make_data(4, n_query=9, bits=6, labels="multi")

    def all_metrics():
        return [mean_average_precision(q, d, ql, dl, topk=7), mean_average_precision(q, d, ql, dl, ties="average"),
                *precision_recall_curve(q, d, ql, dl), precision_at_n(q, d, ql, dl, [1, 9])]

    one_chunk = all_metrics()
    # 2 queries per chunk, the last chunk holding 1
    monkeypatch.setattr(hamming, "CHUNK_PAIRS", 2 * len(d))
    for a, b in zip(one_chunk, all_metrics()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# mAP, ties="average"
# --------------------------------------------------------------------------------------------------


def tie_heavy_cases(labels: str, seed: int, cases: int = 4):
    """(query codes, database codes, query labels, database labels): 3 queries, 6 items, 2-bit codes."""
    rng = np.random.default_rng(seed)
    for _ in range(cases):
        q, d = rng.integers(0, 2, (3, 2)), rng.integers(0, 2, (6, 2))
        if labels == "single":
            yield q, d, rng.integers(0, 2, 3), rng.integers(0, 2, 6)
        else:
            yield q, d, (rng.random((3, 3)) < 0.5) * 1, (rng.random((6, 3)) < 0.5) * 1


@pytest.mark.parametrize("labels", ["single", "multi"])
def test_tie_aware_map_equals_enumeration_over_all_database_orders(labels):
    # 6 items, 2-bit codes: few distinct distances, so every query sees large tie groups
    for q, d, ql, dl in tie_heavy_cases(labels, seed=3):
        for topk in (None, 1, 2, 3, 4, 5):
            orders = [list(p) for p in itertools.permutations(range(6))]
            enumerated = np.mean([mean_average_precision(q, d[p], ql, dl[p], topk=topk) for p in orders])
            closed_form = mean_average_precision(q, d, ql, dl, topk=topk, ties="average")
            assert closed_form == pytest.approx(enumerated, abs=1e-12), topk


def test_tie_aware_map_equals_monte_carlo_over_shuffled_databases():
    q, d, ql, dl = make_data(5, n_query=6, n_db=60, bits=6)
    rng = np.random.default_rng(0)
    for topk in (None, 10, k_inside_a_tie_group(q, d)):
        shuffled = [rng.permutation(len(d)) for _ in range(400)]
        monte_carlo = np.mean([mean_average_precision(q, d[p], ql, dl[p], topk=topk) for p in shuffled])
        closed_form = mean_average_precision(q, d, ql, dl, topk=topk, ties="average")
        assert closed_form == pytest.approx(monte_carlo, abs=5e-3), topk


def test_tie_aware_map_does_not_depend_on_database_order():
    q, d, ql, dl = make_data(6, n_db=200, bits=8, labels="multi")
    p = np.random.default_rng(1).permutation(len(d))
    for topk in (None, 50):
        original = mean_average_precision(q, d, ql, dl, topk=topk, ties="average")
        assert mean_average_precision(q, d[p], ql, dl[p], topk=topk, ties="average") == pytest.approx(original, abs=1e-12)
    # the stable order does depend on it (this is why the tie-aware version exists)
    assert mean_average_precision(q, d[p], ql, dl[p]) != pytest.approx(mean_average_precision(q, d, ql, dl), abs=1e-6)


def test_tie_aware_map_equals_stable_map_without_ties():
    # item j differs from the query in its first j bits: distances 0..K, all distinct
    bits = 10
    db = 1 - 2 * np.tril(np.ones((bits + 1, bits)), k=-1)
    query = np.ones((3, bits))
    rng = np.random.default_rng(2)
    db_labels, query_labels = rng.integers(0, 2, bits + 1), np.array([0, 1, 2])
    for topk in (None, 1, 4, bits + 1):
        stable = mean_average_precision(query, db, query_labels, db_labels, topk=topk)
        average = mean_average_precision(query, db, query_labels, db_labels, topk=topk, ties="average")
        assert average == pytest.approx(stable, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# The other metrics
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", ["single", "multi"])
def test_precision_recall_curve_equals_the_definition(labels):
    q, d, ql, dl = make_data(7, bits=6, labels=labels)
    bits = q.shape[1]
    precision, recall = precision_recall_curve(q, d, ql, dl)
    assert precision.shape == recall.shape == (bits + 1,)
    for radius in range(bits + 1):
        p_sum = r_sum = 0.0
        for i in range(len(q)):
            retrieved = [j for j in range(len(d)) if loop_distance(q[i], d[j]) <= radius]
            hits = sum(loop_relevant(ql[i], dl[j]) for j in retrieved)
            n_relevant = sum(loop_relevant(ql[i], dl[j]) for j in range(len(d)))
            p_sum += hits / len(retrieved) if retrieved else 0.0
            r_sum += hits / n_relevant if n_relevant else 0.0
        assert precision[radius] == pytest.approx(p_sum / len(q), abs=1e-12)
        assert recall[radius] == pytest.approx(r_sum / len(q), abs=1e-12)


def test_precision_at_n_equals_the_definition():
    q, d, ql, dl = make_data(8, bits=4, labels="multi")
    n_values = [1, 3, 10, len(d)]
    expected = []
    for n in n_values:
        per_query = []
        for i in range(len(q)):
            order, _ = loop_ranking(q[i], d)
            per_query.append(sum(loop_relevant(ql[i], dl[j]) for j in order[:n]) / n)
        expected.append(np.mean(per_query))
    np.testing.assert_allclose(precision_at_n(q, d, ql, dl, n_values), expected, atol=1e-12)
    assert precision_at_n(q, d, ql, dl, 3).shape == (1,)


def test_precision_within_radius_counts_an_empty_ball_as_zero():
    query = np.array([[1, 1, 1, 1], [-1, -1, -1, -1]])
    # distances to query 0: 0, 1, 4; to query 1: 4, 3, 0
    db = np.array([[1, 1, 1, 1], [-1, 1, 1, 1], [-1, -1, -1, -1]])
    query_labels, db_labels = np.array([0, 5]), np.array([0, 1, 0])
    # query 0: ball {0, 1}, one relevant of two; query 1: ball {2}, not relevant -> (1/2 + 0) / 2
    assert precision_within_radius(query, db, query_labels, db_labels, radius=2) == pytest.approx(0.25)
    # radius 0 for query [1, -1, 1, -1]: nothing within, precision 0
    assert precision_within_radius(np.array([[1, -1, 1, -1]]), db, np.array([0]), db_labels, radius=0) == 0.0
    # a radius >= K retrieves everything
    assert precision_within_radius(query, db, query_labels, db_labels, radius=99) == pytest.approx((2 / 3 + 0) / 2)


def test_precision_within_radius_equals_the_pr_curve():
    q, d, ql, dl = make_data(9, bits=8)
    precision, _ = precision_recall_curve(q, d, ql, dl)
    assert precision_within_radius(q, d, ql, dl) == precision[2]


@pytest.mark.parametrize("bits", [1, 7, 64, 4096])
def test_hamming_distance_counts_differing_bits(bits):
    rng = np.random.default_rng(bits)
    a, b = rng.integers(0, 2, (5, bits)), rng.integers(0, 2, (6, bits))
    expected = (a[:, None, :] != b[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(hamming_distance(a, b), expected)
    np.testing.assert_array_equal(hamming_distance(2 * a - 1, torch.as_tensor(2 * b - 1)), expected)
    assert hamming_distance(a, b).dtype == np.int64


def test_bit_balance_on_a_hand_computed_example():
    # bit 0 always one, bit 1 half ones, bit 2 one in four
    codes = np.array([[1, 1, 1], [1, -1, -1], [1, 1, -1], [1, -1, -1]])
    balance = bit_balance(codes)
    np.testing.assert_allclose(balance.fraction_ones, [1.0, 0.5, 0.25])
    np.testing.assert_allclose(balance.ones_to_zeros, [math.inf, 1.0, 1 / 3])
    assert balance.mean_abs_deviation == pytest.approx((0.5 + 0 + 0.25) / 3)
    np.testing.assert_allclose(bit_balance(torch.as_tensor(codes > 0)).fraction_ones, [1.0, 0.5, 0.25])


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------

Q, D = np.array([[1, -1], [-1, 1]]), np.array([[1, 1], [-1, -1], [1, -1]])
QL, DL = np.array([0, 1]), np.array([0, 1, 1])


@pytest.mark.parametrize(
    "arguments, match",
    [
        ((np.array([[0.3, -1], [1, 1]]), D, QL, DL), r"only \{-1, \+1\} or only \{0, 1\}.*binarise"),
        ((Q, np.array([[1, 0], [-1, 1], [1, 1]]), QL, DL), "mixes"),
        ((Q, np.array([[-1, 0], [-1, 0], [0, 0]]), QL, DL), r"mixes .* \(found \[-1, 0\]\)"),
        ((Q, D, np.array(["cat", "dog"]), DL), "integer class indices"),
        ((np.array([1, -1]), D, QL, DL), r"shape \(n, K\)"),
        ((np.zeros((0, 2)), D, np.zeros(0), DL), "empty"),
        ((Q, np.ones((3, 4)), QL, DL), "same model"),
        ((Q, D, np.array([0, 1, 2]), DL), "one label per code"),
        ((Q, D, QL, np.eye(3)), "both as class indices"),
        ((Q, D, np.eye(2), np.eye(3)), "same classes"),
        ((Q, D, np.array([[0, 2], [1, 0]]), np.eye(3, 2)), "only 0 and 1"),
        ((Q, D, np.array([0.5, 1.0]), DL), "integer class indices"),
        ((Q, D, QL, np.zeros((3, 0))), "no label columns"),
    ],
)
def test_bad_inputs_raise_a_helpful_value_error(arguments, match):
    with pytest.raises(ValueError, match=match):
        mean_average_precision(*arguments)


@pytest.mark.parametrize("topk", [0, -1, 2.5, True, "all"])
def test_bad_topk_raises(topk):
    with pytest.raises(ValueError, match="positive int"):
        mean_average_precision(Q, D, QL, DL, topk=topk)


def test_other_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"choose one of \['stable', 'average'\]"):
        mean_average_precision(Q, D, QL, DL, ties="random")
    with pytest.raises(ValueError, match="larger than the database"):
        precision_at_n(Q, D, QL, DL, [1, 4])
    with pytest.raises(ValueError, match="positive int"):
        precision_at_n(Q, D, QL, DL, [0])
    with pytest.raises(ValueError, match="n_values is empty"):
        precision_at_n(Q, D, QL, DL, [])
    with pytest.raises(ValueError, match="radius"):
        precision_within_radius(Q, D, QL, DL, radius=-1)
    with pytest.raises(ValueError, match="same length"):
        hamming_distance(Q, np.ones((2, 3)))


@pytest.mark.parametrize("labels", ["single", "multi"])
def test_chance_level_is_the_mean_fraction_of_relevant_items(labels):
    rng = np.random.default_rng(3)
    if labels == "single":
        query_labels, db_labels = rng.integers(0, 4, 7), rng.integers(0, 4, 30)
        shares = lambda q, d: q == d  # noqa: E731
    else:
        query_labels, db_labels = rng.integers(0, 2, (7, 5)), rng.integers(0, 2, (30, 5))
        shares = lambda q, d: bool((q * d).sum())  # noqa: E731
    expected = np.mean([np.mean([shares(q, d) for d in db_labels]) for q in query_labels])
    assert hamming.chance_level(query_labels, db_labels) == pytest.approx(expected)
    assert hamming.chance_level(np.arange(10), np.arange(10).repeat(3)) == pytest.approx(0.1)


@pytest.mark.parametrize("labels", ["single", "multi"])
def test_tie_aware_precision_at_n_equals_enumeration_over_all_database_orders(labels):
    # 6 items, 2-bit codes: large tie groups; the mean of the stable P@N over every database order
    for q, d, ql, dl in tie_heavy_cases(labels, seed=4):
        n_values = [1, 2, 3, 4, 5, 6]
        orders = [list(p) for p in itertools.permutations(range(6))]
        enumerated = np.mean([precision_at_n(q, d[p], ql, dl[p], n_values) for p in orders], axis=0)
        np.testing.assert_allclose(precision_at_n(q, d, ql, dl, n_values, ties="average"), enumerated, atol=1e-12)


def test_tie_aware_precision_at_n_is_the_stable_one_without_ties_and_checks_ties():
    bits = 10
    db = 1 - 2 * np.tril(np.ones((bits + 1, bits)), k=-1)      # distances 0..K from the query, all distinct
    query, db_labels = np.ones((2, bits)), np.random.default_rng(5).integers(0, 2, bits + 1)
    n_values = [1, 4, bits + 1]
    np.testing.assert_allclose(precision_at_n(query, db, [0, 1], db_labels, n_values, ties="average"),
                               precision_at_n(query, db, [0, 1], db_labels, n_values), atol=1e-12)
    with pytest.raises(ValueError, match="ties"):
        precision_at_n(query, db, [0, 1], db_labels, 1, ties="random")
