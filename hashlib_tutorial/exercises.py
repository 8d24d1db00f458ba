"""Checker cells for the notebooks' exercises: a student's function against the library's, an answer against its key.

An exercise is a statement, the student's answer cell (tag ``answer``: a stub that raises
NotImplementedError, or answers left at ``None``), a checker cell (tag ``checker``) that calls
:func:`check` or :func:`check_answer`, and the teacher's collapsed solution cell (tag ``solution``, its
body between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) that checks itself with the same calls,
so nbval runs every solution on every build. ``make student`` drops the solution cells (``handout.py``).

    def my_hamming(a, b):
        raise NotImplementedError   # your code here

    check(my_hamming, hamming_distance, cases=[(codes_a, codes_b)])

    best_m = None                   # your answer: a whole number
    check_answer(best_m, "sha256:...", name="best m")   # the key: answer_digest(4)

An unanswered exercise prints "not attempted yet"; under an autograder (nbgrader, or ``python -m
hashlib_tutorial autograde``, both set ``NBGRADER_EXECUTION``) it raises instead, so it scores 0.
"""

from __future__ import annotations

import hashlib
import numbers
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

NOT_ATTEMPTED = "not attempted yet"


def _not_attempted(name: str) -> bool:
    """Say that ``name`` is unanswered; under an autograder that is a failure (AssertionError)."""
    if os.environ.get("NBGRADER_EXECUTION"):
        raise AssertionError(f"{name}: {NOT_ATTEMPTED}")
    print(f"{name}: {NOT_ATTEMPTED} (write it above, then run this cell again)")
    return False


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def check(student: Callable, reference: Callable, cases: Iterable[Sequence], rtol: float = 1e-5,
          atol: float = 1e-6, name: str | None = None, reference_name: str = "the library") -> bool:
    """Call ``student(*case)`` and ``reference(*case)`` on every case and print whether they agree.

    Prints "not attempted yet" (and returns False) while the student's function raises
    NotImplementedError (under an autograder: raises AssertionError); raises AssertionError with the
    first disagreement otherwise.

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
            return _not_attempted(name)
        expected = reference(*case)
        try:
            np.testing.assert_allclose(_as_array(got), _as_array(expected), rtol=rtol, atol=atol)
        except AssertionError as error:
            raise AssertionError(f"{name} disagrees with {reference_name} on case {i}:\n{error}") from None
    print(f"{name}: matches {reference_name} on {len(cases)} case{'s' * (len(cases) != 1)}")
    return True


def _normalise(value, digits: int | None = None) -> str:
    """One canonical text per answer: case and spaces ignored, numbers rounded to ``digits`` decimals."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, str):
        return "".join(value.lower().split())
    if isinstance(value, dict):
        items = sorted((_normalise(k), _normalise(v, digits)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(_normalise(v, digits) for v in value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_normalise(v, digits) for v in value) + "]"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if digits is not None:
            return f"{round(number, digits) + 0.0:.{digits}f}"          # + 0.0: no "-0.000"
        return str(int(number)) if number.is_integer() else repr(number)
    raise TypeError(f"cannot check an answer of type {type(value).__name__}: give a number, text, "
                    "True/False, or a list, set or dict of them")


def answer_digest(value, digits: int | None = None) -> str:
    """The key of an answer that a checker cell must not show in plain text.

    Example: ``answer_digest(1 - math.exp(-1 / 4.8), digits=3)`` is the key of "0.188"; a checker
    cell then calls ``check_answer(d_star, "sha256:...", digits=3)``. Case and spaces in text do not
    count; a set ignores order, a list does not.
    """
    text = "hashlib_tutorial|" + _normalise(value, digits)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def check_answer(answer, expected, name: str = "your answer", digits: int | None = None,
                 tol: float | None = None) -> bool:
    """Check a typed answer (a number, a choice, True/False, a short list) and print whether it is right.

    Args:
        answer: the student's answer; ``None`` or ``...`` means not attempted yet.
        expected: the right answer computed in the notebook from the library (or a function that
            computes it, called only once there is an answer), or its key from :func:`answer_digest`
            (a text starting with "sha256:") so that the answer is not in sight.
        name: what to call the answer in the message.
        digits: round numbers to this many decimals before comparing (required for a key of a
            non-integer number).
        tol: absolute tolerance when ``expected`` is a number.
    Returns:
        True when right; False (a message) while not attempted; raises AssertionError when wrong.
    """
    if answer is None or answer is Ellipsis:
        return _not_attempted(name)
    if callable(expected):   # computed only once there is an answer to compare with
        expected = expected()
    if isinstance(expected, str) and expected.startswith("sha256:"):
        right = answer_digest(answer, digits) == expected
    elif tol is not None:
        right = bool(np.allclose(_as_array(answer), _as_array(expected), rtol=0, atol=tol))
    else:
        right = _normalise(answer, digits) == _normalise(expected, digits)
    if not right:
        raise AssertionError(f"{name}: {answer!r} is not right; look at the question again")
    print(f"{name}: right")
    return True
