"""The exercises' checker: it passes a correct answer, reports an unwritten one, and catches a wrong one."""

import numpy as np
import pytest
import torch

from hashlib_tutorial.exercises import check


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
