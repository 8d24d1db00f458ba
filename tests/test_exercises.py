"""The exercises' checker: it passes a correct answer, reports an unwritten one, and catches a wrong one."""

import math

import numpy as np
import pytest
import torch

from hashlib_tutorial.exercises import answer_digest, check, check_answer


def test_check_passes_reports_and_fails(capsys):
    cases = [(torch.arange(4.0),), (torch.tensor([[1.0, -2.0]]),)]
    assert check(lambda x: x.abs(), torch.abs, cases, name="my_abs")
    assert capsys.readouterr().out == "my_abs: matches the library on 2 cases\n"

    def unwritten(x):
        raise NotImplementedError

    assert not check(unwritten, torch.abs, cases)
    assert "unwritten: not attempted yet" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="my_abs disagrees with the library on case 1"):
        check(lambda x: x, torch.abs, cases, name="my_abs")  # right on case 0, wrong on case 1
    assert check(lambda a: np.asarray(a) + 1e-9, lambda a: a, [([1.0, 2.0],)])  # within tolerance


def test_check_answer_passes_reports_and_fails(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert check_answer(4, answer_digest(4), name="best m")
    assert check_answer(0.18805, answer_digest(1 - math.exp(-1 / 4.8), digits=3), digits=3)
    assert check_answer(" Eta = 0", answer_digest("eta=0")) and check_answer(np.bool_(True), answer_digest(True))
    assert check_answer({2: 5, 0: 1}, answer_digest({0: 1, 2: 5})) and check_answer(0.1291, 0.129, tol=0.001)
    assert capsys.readouterr().out.count(": right\n") == 6
    assert not check_answer(None, answer_digest(4), name="best m")
    assert "best m: not attempted yet" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="best m: 5 is not right"):
        check_answer(5, answer_digest(4), name="best m")
    with pytest.raises(TypeError, match="cannot check an answer"):
        check_answer(object(), 1)


def test_an_unanswered_exercise_fails_under_an_autograder(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")   # nbgrader and `autograde` set it

    def unwritten(x):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="not attempted"):
        check(unwritten, torch.abs, [(torch.ones(2),)])
    with pytest.raises(AssertionError, match="not attempted"):
        check_answer(None, 1)


def test_check_answer_computes_a_lazy_expected_value_only_for_an_answer(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    calls = []

    def expected():
        calls.append(1)
        return 229

    assert not check_answer(None, expected) and calls == []
    assert check_answer(229, expected) and calls == [1]
