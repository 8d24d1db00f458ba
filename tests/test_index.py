"""Tests of hashlib_tutorial.retrieval.index.HammingIndex against a brute-force ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hashlib_tutorial.retrieval import hamming
from hashlib_tutorial.retrieval.index import HammingIndex, _popcount, faiss

BACKENDS = ["numpy"] + (["faiss"] if faiss is not None else [])
needs_faiss = pytest.mark.skipif(faiss is None, reason="faiss is not installed")


def brute_force_knn(queries, db, k):
    """Distances of every pair, then a stable sort: ties in database order. (nq, k), (nq, k)."""
    dist = ((queries[:, None, :] > 0) != (db[None, :, :] > 0)).sum(axis=2)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, order, axis=1), order


@pytest.mark.parametrize(
    "backend, bits",
    [(backend, bits) for backend in BACKENDS for bits in (8, 13, 64, 128) if backend == "numpy" or bits % 8 == 0],
)
def test_search_equals_brute_force(backend, bits):
    rng = np.random.default_rng(bits)
    db, queries = rng.integers(0, 2, (500, bits)), 2 * rng.integers(0, 2, (7, bits)) - 1
    index = HammingIndex(bits, backend=backend)
    index.add(db)
    distances, indices = index.search(queries, 60)
    expected_distances, expected_indices = brute_force_knn(queries, db, 60)
    np.testing.assert_array_equal(distances, expected_distances)
    np.testing.assert_array_equal(indices, expected_indices)
    assert distances.dtype == np.int32 and indices.dtype == np.int64


def test_numpy_search_does_not_depend_on_the_chunk_size(monkeypatch):
    rng = np.random.default_rng(3)
    db, queries = rng.integers(0, 2, (100, 16)), rng.integers(0, 2, (5, 16))
    index = HammingIndex(16, backend="numpy")
    index.add(db)
    one_chunk = index.search(queries, 30)
    # 2 queries per chunk, the last chunk holding 1
    monkeypatch.setattr(hamming, "CHUNK_PAIRS", 200)
    for a, b in zip(one_chunk, index.search(queries, 30)):
        np.testing.assert_array_equal(a, b)


@needs_faiss
def test_backends_agree_exactly_on_tie_heavy_codes():
    # 8-bit codes over 3,000 items: every distance is shared by hundreds of items
    rng = np.random.default_rng(0)
    db, queries = rng.integers(0, 2, (3000, 8)), rng.integers(0, 2, (20, 8))
    results = []
    for backend in ("numpy", "faiss"):
        index = HammingIndex(8, backend=backend)
        index.add(db)
        results.append(index.search(queries, 700))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_are_broken_by_the_smaller_index(backend):
    code, other = np.ones((1, 8)), -np.ones((1, 8))
    db = np.concatenate([other, code, other, code, code])
    index = HammingIndex(8, backend=backend)
    index.add(db)
    distances, indices = index.search(code, 4)
    np.testing.assert_array_equal(distances, [[0, 0, 0, 8]])
    np.testing.assert_array_equal(indices, [[1, 3, 4, 0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_codes_accumulate_across_add_calls(backend):
    rng = np.random.default_rng(1)
    db, queries = rng.integers(0, 2, (300, 16)), rng.integers(0, 2, (4, 16))
    once, twice = HammingIndex(16, backend=backend), HammingIndex(16, backend=backend)
    once.add(db)
    twice.add(torch.as_tensor(db[:120]))
    twice.add(2.0 * db[120:] - 1)  # the same codes in the other convention
    assert len(once) == len(twice) == 300
    for a, b in zip(once.search(queries, 300), twice.search(torch.as_tensor(queries), 300)):
        np.testing.assert_array_equal(a, b)


def test_auto_backend_falls_back_to_numpy_for_bits_not_multiple_of_8():
    assert HammingIndex(12).backend == "numpy"
    assert HammingIndex(16).backend == ("faiss" if faiss is not None else "numpy")


def test_popcount_table_equals_bitwise_count():
    words = np.random.default_rng(2).integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    expected = np.array([bin(int(w)).count("1") for w in words])
    np.testing.assert_array_equal(_popcount(words, use_table=True), expected)
    np.testing.assert_array_equal(_popcount(words), expected)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: HammingIndex(0), "positive int"),
        (lambda: HammingIndex(16, backend="gpu"), "choose one of"),
        (lambda: HammingIndex(16).add(np.ones((3, 8))), "16-bit codes"),
        (lambda: HammingIndex(8).add(np.full((3, 8), 0.5)), "binarise"),
        (lambda: HammingIndex(8).search(np.ones((1, 8)), 1), "add codes first"),
    ],
)
def test_bad_arguments_raise_a_helpful_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [0, 6, 2.0])
def test_bad_k_names_the_index_size(backend, k):
    index = HammingIndex(8, backend=backend)
    index.add(np.ones((5, 8)))
    with pytest.raises(ValueError, match=r"1\.\.len\(index\) = 1\.\.5"):
        index.search(np.ones((1, 8)), k)


@needs_faiss
def test_faiss_backend_rejects_bits_not_multiple_of_8():
    with pytest.raises(ValueError, match="multiple of 8"):
        HammingIndex(12, backend="faiss")
