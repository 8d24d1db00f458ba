r"""Exact nearest-neighbour search in Hamming space over packed binary codes.

A K-bit code is stored as K/8 bytes (np.packbits), and the Hamming distance of two packed codes is
the number of set bits of their XOR:

    d(a, b) = popcount(a XOR b)

`HammingIndex` wraps faiss's `IndexBinaryFlat` (a brute-force scan in C++) when faiss is installed,
and a numpy scan otherwise. Both are exact and give identical results: the k nearest codes, ties
broken by the smaller database index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import hamming
from .hamming import as_bits, distance_dtype

try:
    import faiss
except ImportError:  # faiss is optional: the numpy backend needs nothing else
    faiss = None

BACKENDS = ("auto", "faiss", "numpy")

# popcount of every byte value, for numpy < 2 (which has no np.bitwise_count)
_POPCOUNT_TABLE = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def _popcount(words: np.ndarray, use_table: bool = False) -> np.ndarray:
    """Number of set bits of each uint64 word: np.bitwise_count (numpy >= 2) or a 256-entry table.

    Shape:
        (...,) uint64 -> (...,) uint8
    """
    if hasattr(np, "bitwise_count") and not use_table:
        return np.bitwise_count(words)
    # the 8 bytes of each word through the table, then summed: (..., 8) -> (...,)
    by_byte = _POPCOUNT_TABLE[words[..., None].view(np.uint8)]
    return by_byte.sum(axis=-1, dtype=np.uint8)


def _as_words(packed: np.ndarray) -> np.ndarray:
    """Packed codes (n, K/8 bytes) as 64-bit words (n, W), zero-padded: padding adds no distance."""
    n_bytes = packed.shape[1]
    padded = np.zeros((len(packed), -(-n_bytes // 8) * 8), dtype=np.uint8)
    padded[:, :n_bytes] = packed
    return padded.view(np.uint64)


class HammingIndex:
    r"""Exact k-nearest-neighbour search over binary codes by Hamming distance.

    Codes ({-1, +1} or {0, 1}, numpy or torch) are packed into bits, 8 per byte; +1 and 1 are
    the set bits. `search` returns, for each query, the k database codes with the smallest
    d(q, b) = popcount(q XOR b), ordered by (distance, database index), so the result is
    deterministic and the same for both backends:

    * "faiss": `faiss.IndexBinaryFlat`, a C++ scan. It needs bits to be a multiple of 8. Its heap
      keeps the first-scanned code among equal distances, i.e. the smaller index (the tests check
      that it matches the numpy backend on tie-heavy data); results are then sorted by
      (distance, index).
    * "numpy": XOR of the packed codes as 64-bit words, np.bitwise_count (or a 256-entry table on
      numpy < 2), then a stable radix sort of the small unsigned distances (ties in index order).
    * "auto": faiss when it imports and bits % 8 == 0, numpy otherwise.

    Args:
        bits: K, the code length.
        backend: "auto", "faiss" or "numpy".
    """

    def __init__(self, bits: int, backend: str = "auto"):
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits <= 0:
            raise ValueError(f"bits must be a positive int (the code length K); got {bits!r}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
        if backend == "faiss" and faiss is None:
            raise ValueError("backend='faiss' but faiss is not installed; pip install faiss-cpu or use backend='numpy'")
        if backend == "faiss" and bits % 8 != 0:
            raise ValueError(f"faiss IndexBinaryFlat needs bits to be a multiple of 8, got {bits}; "
                             "use backend='numpy' (or 'auto')")
        if backend == "auto":
            backend = "faiss" if faiss is not None and bits % 8 == 0 else "numpy"
        self.bits = int(bits)
        self.backend = backend
        self._faiss_index = faiss.IndexBinaryFlat(self.bits) if backend == "faiss" else None
        # numpy backend: packed codes as 64-bit words, (n, W)
        self._words = np.zeros((0, -(-self.bits // 64)), dtype=np.uint64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"HammingIndex(bits={self.bits}, backend={self.backend!r}, size={len(self)})"

    def _pack(self, codes: Any, name: str) -> np.ndarray:
        """Validated codes (n, K) as packed bytes (n, ceil(K / 8))."""
        bits = as_bits(codes, name)
        if bits.shape[1] != self.bits:
            raise ValueError(f"{name} have K={bits.shape[1]} bits but the index holds {self.bits}-bit codes; "
                             f"build HammingIndex({bits.shape[1]}) or encode with the same model")
        return np.packbits(bits, axis=1)

    def add(self, codes: Any) -> None:
        """Append codes to the database; their indices continue from len(index).

        Args:
            codes: {-1, +1} or {0, 1} codes (n, K), numpy or torch.
        """
        packed = self._pack(codes, "codes")
        if self._faiss_index is not None:
            self._faiss_index.add(packed)
        else:
            self._words = np.concatenate([self._words, _as_words(packed)])
        self._size += len(packed)

    def search(self, query_codes: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest database codes of each query, by (Hamming distance, index).

        Args:
            query_codes: {-1, +1} or {0, 1} codes (nq, K), numpy or torch.
            k: neighbours per query, 1 <= k <= len(index).
        Returns:
            (distances, indices): int32 distances and int64 database indices, nearest first.
        Shape:
            (nq, K) -> (nq, k), (nq, k)
        """
        packed = self._pack(query_codes, "query_codes")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(self):
            raise ValueError(f"k must be an int in 1..len(index) = 1..{len(self)}; got {k!r}"
                             + ("; add codes first" if len(self) == 0 else ""))
        if self._faiss_index is not None:
            distances, indices = self._faiss_index.search(packed, int(k))
            # sort each row by (distance, index): lexsort's last key is the primary one
            order = np.lexsort((indices, distances), axis=-1)
            return (np.take_along_axis(distances, order, axis=1).astype(np.int32),
                    np.take_along_axis(indices, order, axis=1).astype(np.int64))
        return self._numpy_search(_as_words(packed), int(k))

    def _numpy_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force scan over chunks of queries. Shape: (nq, W) words -> (nq, k), (nq, k)."""
        step = max(1, hamming.CHUNK_PAIRS // len(self))
        distances, indices = [], []
        for start in range(0, len(queries), step):
            # d = popcount(q XOR b), summed over the W words of a code: (c, n)
            xor = queries[start:start + step, None, :] ^ self._words[None, :, :]
            dist = _popcount(xor).sum(axis=2, dtype=distance_dtype(self.bits))
            # stable radix sort: equal distances stay in index order
            order = np.argsort(dist, axis=1, kind="stable")[:, :k]
            distances.append(np.take_along_axis(dist, order, axis=1).astype(np.int32))
            indices.append(order.astype(np.int64))
        return np.concatenate(distances), np.concatenate(indices)
