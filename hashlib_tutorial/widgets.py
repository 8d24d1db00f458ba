"""An interactive retrieval explorer: pick a query, a code length and k, see the top-k results.

The logic is one pure function, :func:`gallery_for`, that returns what to draw (indices, distances,
labels, right or wrong). :func:`explorer` only wires ipywidgets controls to it and draws the result
with :func:`hashlib_tutorial.plotting.retrieval_gallery`. A headless kernel (nbval, nbconvert) runs an
``interact`` callback once with the default values and never again, so notebooks test
:func:`gallery_for` directly and leave the widget's output unchecked. A saved notebook keeps no widget
output either: :func:`draw_galleries` draws the same galleries as a static figure, and
:func:`confusion` counts, over every query, the classes the galleries would show.

Ties. A K-bit code has only K + 1 distances, so the k-th result usually shares its distance with many
database items, and which of them a gallery shows is the index's convention (the smaller database
index first), not the model's choice. :func:`tie_groups` counts, per query, the items strictly closer
than the k-th result and the items at its distance (the tie group at rank k); every gallery carries
both numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .retrieval.hamming import hamming_distance
from .retrieval.index import HammingIndex


@dataclass
class RetrievalSet:
    """Everything the explorer searches: codes per length, labels and the images to show.

    Args:
        query_codes: {K: {-1, +1} codes (nq, K)}.
        db_codes: {K: {-1, +1} codes (n, K)}, the same lengths as ``query_codes``.
        query_labels: (nq,) class indices.
        db_labels: (n,) class indices.
        query_images: (nq, H, W, 3) uint8, for display.
        db_images: (n, H, W, 3) uint8, for display.
        class_names: one name per class index.
        backend: the :class:`HammingIndex` backend. "numpy" by default: the explorer searches one
            query at a time in a few thousand codes, where starting faiss's threads costs more than
            the scan (measured here: 0.5 ms per query with numpy, 3.5 ms with faiss).
    """

    query_codes: dict[int, np.ndarray]
    db_codes: dict[int, np.ndarray]
    query_labels: np.ndarray
    db_labels: np.ndarray
    query_images: np.ndarray
    db_images: np.ndarray
    class_names: list[str]
    backend: str = "numpy"

    def __post_init__(self):
        if sorted(self.query_codes) != sorted(self.db_codes):
            raise ValueError(f"query codes have lengths {sorted(self.query_codes)} but database codes "
                             f"{sorted(self.db_codes)}; encode both sets at every length")
        self._indexes: dict[int, HammingIndex] = {}

    @property
    def lengths(self) -> list[int]:
        """The code lengths K available, ascending."""
        return sorted(self.query_codes)

    def index(self, bits: int) -> HammingIndex:
        """The Hamming index of the database codes of length ``bits``, built once."""
        if bits not in self.db_codes:
            raise ValueError(f"no {bits}-bit codes; choose one of {self.lengths}")
        if bits not in self._indexes:
            self._indexes[bits] = HammingIndex(bits, backend=self.backend)
            self._indexes[bits].add(self.db_codes[bits])
        return self._indexes[bits]


@dataclass(frozen=True)
class Gallery:
    """What to draw for one query: its top-k database items, nearest first.

    Attributes:
        query_index: the query's position in the query set.
        query_label: its class.
        indices: (k,) database positions, by (Hamming distance, index).
        distances: (k,) Hamming distances.
        labels: (k,) classes of the results.
        correct: (k,) True where a result has the query's class.
        closer: database items strictly closer to the query than the k-th result.
        tied: database items at the k-th result's distance (the tie group at rank k; the gallery shows
            k - closer of them, those with the smallest database index).
    """

    query_index: int
    query_label: int
    indices: np.ndarray
    distances: np.ndarray
    labels: np.ndarray
    correct: np.ndarray
    closer: int
    tied: int

    @property
    def precision(self) -> float:
        """The fraction of the k results that are correct (P@k of this query)."""
        return float(self.correct.mean())

    def titles(self, class_names: list[str]) -> list[str]:
        """One title per result: its distance and class."""
        return [f"d={d}\n{class_names[c]}" for d, c in zip(self.distances.tolist(), self.labels.tolist())]


def tie_groups(bits: int, k: int, data: RetrievalSet, queries=None) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the database items strictly closer than its k-th result and those at its distance.

    With n_d the number of database items at distance d from the query and D_k the k-th result's
    distance (the first D with n_0 + ... + n_D >= k): closer = n_0 + ... + n_{D_k - 1}, tied = n_{D_k}.
    Any k - closer of the tied items complete an equally good top k.

    Args:
        bits, k: code length and number of results, as in :func:`gallery_for`.
        data: the codes, labels and images to search.
        queries: positions in the query set (default: every query).
    Returns:
        (closer, tied), int64 arrays of shape (len(queries),).
    """
    if not 1 <= k <= len(data.db_labels):
        raise ValueError(f"k must be in 1..{len(data.db_labels)}, got {k}")
    codes = data.query_codes[bits] if queries is None else data.query_codes[bits][np.atleast_1d(queries)]
    counts = []
    for start in range(0, len(codes), 64):                       # 64 queries at a time bound the memory
        distances = hamming_distance(codes[start:start + 64], data.db_codes[bits])    # (c, n)
        counts += [np.bincount(row, minlength=bits + 1) for row in distances]        # n_d: (K + 1,) each
    n = np.array(counts).reshape(-1, bits + 1)                                       # (nq, K + 1)
    kth = np.argmax(np.cumsum(n, axis=1) >= k, axis=1)                               # D_k: (nq,)
    tied = n[np.arange(len(n)), kth]
    return np.cumsum(n, axis=1)[np.arange(len(n)), kth] - tied, tied


def gallery_for(query_index: int, bits: int, k: int, data: RetrievalSet) -> Gallery:
    """The top-k database items of one query at one code length (a pure function of its arguments).

    Args:
        query_index: position of the query in ``data``'s query set.
        bits: code length K, one of ``data.lengths``.
        k: number of results, 1 <= k <= database size.
        data: the codes, labels and images to search.
    Returns:
        a :class:`Gallery`.
    """
    if not 0 <= query_index < len(data.query_labels):
        raise ValueError(f"query_index must be in 0..{len(data.query_labels) - 1}, got {query_index}")
    distances, indices = data.index(bits).search(data.query_codes[bits][query_index:query_index + 1], k)
    labels = data.db_labels[indices[0]]
    query_label = int(data.query_labels[query_index])
    closer, tied = tie_groups(bits, k, data, [query_index])
    return Gallery(query_index, query_label, indices[0], distances[0], labels, labels == query_label,
                   int(closer[0]), int(tied[0]))


def draw_gallery(gallery: Gallery, data: RetrievalSet, **kwargs):
    """Draw a :class:`Gallery` with :func:`~hashlib_tutorial.plotting.retrieval_gallery`; returns the figure."""
    from .plotting import retrieval_gallery

    name = data.class_names[gallery.query_label]
    return retrieval_gallery(data.query_images[gallery.query_index], data.db_images[gallery.indices],
                             gallery.correct.tolist(), titles=gallery.titles(data.class_names),
                             query_title=f"query {gallery.query_index}\n{name}", **kwargs)


def draw_galleries(queries: list[int], bits: int, k: int, data: RetrievalSet, size: float = 1.3):
    """The galleries of several queries, one row each, in one static figure; returns the figure.

    Args:
        queries: positions in ``data``'s query set, one row each.
        bits, k: code length and number of results, as in :func:`gallery_for`.
        data: the codes, labels and images to search.
        size: inches per image.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(queries), k + 1, figsize=(size * (k + 1), (size + 0.45) * len(queries)), squeeze=False)
    for row, query_index in zip(axes, queries):
        gallery = gallery_for(query_index, bits, k, data)
        draw_gallery(gallery, data, axes=row)
        row[0].set_ylabel(f"{gallery.correct.sum()} of {k} correct\n{gallery.tied:,} tied at d={gallery.distances[-1]}",
                          fontsize="small")
    fig.tight_layout()
    return fig


def confusion(bits: int, k: int, data: RetrievalSet) -> np.ndarray:
    """How often each class appears in the top k of each class's queries, over every query.

        counts[a, b] = number of results of class b in the top-k galleries of the queries of class a

    The diagonal counts the correct results, so trace(counts) / (number of queries * k) is the mean P@k.

    Args:
        bits, k: code length and number of results, as in :func:`gallery_for`.
        data: the codes, labels and images to search.
    Returns:
        int64 counts.
    Shape:
        (C, C), C = len(data.class_names)
    """
    _, indices = data.index(bits).search(data.query_codes[bits], k)       # (nq, k)
    query_class = np.repeat(data.query_labels, k)                          # (nq * k,), row by row
    result_class = data.db_labels[indices].ravel()                         # (nq * k,)
    counts = np.zeros((len(data.class_names),) * 2, dtype=np.int64)
    np.add.at(counts, (query_class, result_class), 1)
    return counts


def explorer(data: RetrievalSet, query_index: int = 0, bits: int | None = None, k: int = 10, max_k: int = 20):
    """An ipywidgets UI: a query slider, a code-length dropdown and a k slider, redrawing the gallery.

    Args:
        data: the codes, labels and images to search.
        query_index, bits, k: the initial values (bits None: the longest code).
        max_k: the largest k the slider offers.
    Returns:
        an ``ipywidgets.interactive`` box (controls + output); make it a cell's last expression or
        ``display`` it. It draws once when built and again on every change of a control.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(query_index: int, bits: int, k: int) -> None:
        gallery = gallery_for(query_index, bits, k, data)
        draw_gallery(gallery, data)
        plt.suptitle(f"{bits} bits, top {k}: {gallery.correct.sum()} of {k} correct; {gallery.tied:,} database items "
                     f"at the distance of result {k}, d={gallery.distances[-1]} ({gallery.closer:,} closer)",
                     y=1.02, fontsize="small")
        plt.show()

    return widgets.interactive(
        show,
        query_index=widgets.IntSlider(value=query_index, min=0, max=len(data.query_labels) - 1, description="query"),
        bits=widgets.Dropdown(options=data.lengths, value=bits or data.lengths[-1], description="bits"),
        k=widgets.IntSlider(value=k, min=1, max=max_k, description="k"),
    )
