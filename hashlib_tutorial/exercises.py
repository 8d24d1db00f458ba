"""Checker cells for the notebooks' exercises: compare a student's function with the library's.

A notebook's exercise has three cells: the student's stub (``raise NotImplementedError`` until it is
written), a checker cell that calls :func:`check`, and a collapsed solution cell (``source_hidden``)
that defines the solution and checks it too, so nbval runs every solution on every build.

    def my_hamming(a, b):
        raise NotImplementedError   # your code here

    check(my_hamming, hamming_distance, cases=[(codes_a, codes_b)])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def check(student: Callable, reference: Callable, cases: Iterable[Sequence], rtol: float = 1e-5,
          atol: float = 1e-6, name: str | None = None, reference_name: str = "the library") -> bool:
    """Call ``student(*case)`` and ``reference(*case)`` on every case and print whether they agree.

    Prints "not attempted yet" (and returns False) while the student's function raises
    NotImplementedError; raises AssertionError with the first disagreement otherwise.

    Args:
        student: the function written in the exercise.
        reference: the library's function (or an expression of it) computing the same thing.
        cases: argument tuples to call both with.
        rtol, atol: tolerances of ``numpy.testing.assert_allclose``.
        name: what to call the student's function in the message (default: its __name__).
        reference_name: what to call the reference in the message.
    Returns:
        True when every case agrees.
    """
    name = name or getattr(student, "__name__", "your function")
    cases = list(cases)
    for i, case in enumerate(cases):
        try:
            got = student(*case)
        except NotImplementedError:
            print(f"{name}: not attempted yet (write it above, then run this cell again)")
            return False
        expected = reference(*case)
        try:
            np.testing.assert_allclose(_as_array(got), _as_array(expected), rtol=rtol, atol=atol)
        except AssertionError as error:
            raise AssertionError(f"{name} disagrees with {reference_name} on case {i}:\n{error}") from None
    print(f"{name}: matches {reference_name} on {len(cases)} case{'s' * (len(cases) != 1)}")
    return True
