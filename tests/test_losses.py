import math

import pytest
import torch

from hashlib_tutorial.model.losses import (
    CodeMemory,
    admth_consistency,
    class_loss,
    dah_bit_balance,
    dah_pair_loss,
    dpfah_quantization,
    dpsh_likelihood,
    dsh_loss,
    pairwise_likelihood,
    sign_quantization,
    similarity_matrix,
)



@pytest.fixture(autouse=True)
def float64():
    """Compare with Python floats in double precision; restore the default afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def pairs(n):
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def test_similarity_from_class_indices_and_multi_hot():
    assert similarity_matrix(torch.tensor([0, 1, 0])).tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    multi = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    assert similarity_matrix(multi).tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    assert similarity_matrix(torch.tensor([0, 1]), torch.tensor([1, 1, 0])).tolist() == [[0, 0, 1], [1, 1, 0]]
    with pytest.raises(ValueError, match="mix class indices and multi-hot"):
        similarity_matrix(torch.tensor([0, 1]), multi)


def test_dpsh_likelihood_equals_the_equation_written_as_a_loop():
    u, s = torch.randn(4, 8), (torch.rand(4, 4) > 0.5).double()
    loop = sum(math.log1p(math.exp(0.5 * u[i] @ u[j])) - s[i, j] * 0.5 * u[i] @ u[j]
               for i in range(4) for j in range(4)) / 16
    torch.testing.assert_close(dpsh_likelihood(u, s), torch.as_tensor(loop))


def test_balanced_dpsh_likelihood_by_hand():
    # u_0 = u_1 = (2, 0), u_2 = (-2, 0): theta = 2 within {0, 1} and -2 with 2; classes 0, 0, 1
    u, s = torch.tensor([[2.0, 0.0], [2.0, 0.0], [-2.0, 0.0]]), similarity_matrix(torch.tensor([0, 0, 1]))
    similar = math.log1p(math.exp(2.0)) - 2.0  # the 5 similar pairs (4 in {0, 1}, and (2, 2) at theta 2)
    dissimilar = math.log1p(math.exp(-2.0))    # the 4 dissimilar pairs
    assert dpsh_likelihood(u, s, balanced=True).item() == pytest.approx((similar + dissimilar) / 2)
    assert dpsh_likelihood(u, s).item() == pytest.approx((5 * similar + 4 * dissimilar) / 9)
    # one kind of pair only: its mean
    assert dpsh_likelihood(u[:2], torch.ones(2, 2), balanced=True).item() == pytest.approx(similar)


def test_dpsh_likelihood_is_finite_for_large_inner_products():
    u = torch.full((2, 64), 30.0)  # theta = 28,800: exp overflows, softplus does not
    loss = dpsh_likelihood(u, torch.ones(2, 2))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-9)


def test_sign_quantization_by_hand():
    u = torch.tensor([[0.5, -0.25], [-2.0, 1.0]])
    # (1 - .5)^2 + (-1 + .25)^2 = .8125 ; (-1 + 2)^2 + 0 = 1 ; mean over 4 entries = .453125
    assert sign_quantization(u).item() == pytest.approx(0.453125)


def test_dpfah_quantization_band_penalty_by_hand():
    u = torch.tensor([[0.0, 1.05, -1.3], [-0.6, 1.0, 1.1]])
    # row 1: relu(1 - 0) + 0 + relu(1.3 - 1.1) = 1.2 ; row 2: 0.4 + 0 + 0 = 0.4 ; mean over 6 entries = 1.6 / 6
    assert dpfah_quantization(u).item() == pytest.approx(1.6 / 6)
    assert dpfah_quantization(torch.tensor([[1.0, -1.1, 1.05]])).item() == 0.0  # inside the band: no loss


def test_class_loss_single_and_multi_label():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    ce = -(math.log(math.exp(2) / (math.exp(2) + 1)) + math.log(math.exp(1) / (1 + math.exp(1)))) / 2
    assert class_loss(logits, torch.tensor([0, 1])).item() == pytest.approx(ce)
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    bce = -(math.log(sig(2)) + math.log(1 - sig(0)) + math.log(sig(0)) + math.log(sig(1))) / 4
    assert class_loss(logits, torch.tensor([[1, 0], [1, 1]])).item() == pytest.approx(bce)


def test_dah_pair_loss_equals_the_paper_equation_as_a_loop():
    x = 0.25 + 0.5 * torch.rand(5, 12)
    labels = torch.tensor([0, 1, 0, 2, 1])
    s, k = similarity_matrix(labels), 12
    total = 0.0
    for i, j in pairs(5):
        if s[i, j]:
            total += sum((x[i, b] - x[j, b]).item() ** 2 for b in range(k))
        else:
            total += abs(k / 4.8 + sum(math.log(1 - abs(x[i, b] - x[j, b]).item()) for b in range(k)))
    assert dah_pair_loss(x, s).item() == pytest.approx(total / 20, rel=1e-12)


def test_dah_pair_loss_tiny_example_by_hand():
    x = torch.tensor([[0.75, 0.25], [0.25, 0.25]])
    # dissimilar: |2/4.8 + log(1 - .5) + log(1)| = |0.41667 - 0.69315| ; both ordered pairs equal
    expected = abs(2 / 4.8 + math.log(0.5))
    assert dah_pair_loss(x, torch.eye(2)).item() == pytest.approx(expected)
    # similar: ||x1 - x2||^2 = 0.25
    assert dah_pair_loss(x, torch.ones(2, 2)).item() == pytest.approx(0.25)


def test_dah_bit_balance_by_hand():
    x = torch.tensor([[0.75, 0.75], [0.25, 0.25], [0.75, 0.25]])
    # c = (0.5, -0.5, 0); (c_i + c_j)^2 over ordered pairs: (0,1): 0, (0,2): .25, (1,2): .25, twice each
    assert dah_bit_balance(x).item() == pytest.approx((0 + 0.25 + 0.25) * 2 / 6)


def test_pair_losses_need_two_items():
    with pytest.raises(ValueError, match="at least 2"):
        dah_bit_balance(torch.rand(1, 4))


def test_dsh_loss_as_a_loop_uses_abs_not_sign():
    u = torch.randn(4, 6)
    s = similarity_matrix(torch.tensor([0, 0, 1, 1]))
    m, alpha = 12.0, 0.01
    pair = 0.0
    for i, j in pairs(4):
        d = ((u[i] - u[j]) ** 2).sum().item()
        pair += 0.5 * d if s[i, j] else 0.5 * max(m - d, 0.0)
    reg = sum(abs(abs(v) - 1) for v in u.flatten().tolist()) / 4
    assert dsh_loss(u, s).item() == pytest.approx(pair / 12 + alpha * reg, rel=1e-10)
    u.requires_grad_(True)
    dsh_loss(u, s, margin=0.0).backward()  # only the regulariser and the similar pairs act
    assert u.grad.abs().sum() > 0


def test_admth_consistency_by_hand_and_shapes():
    h16 = torch.tensor([[1.0, -1.0]])
    h32 = torch.tensor([[1.0, 1.0, -1.0]])
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # picks bits 1 and 3 of the longer code
    assert admth_consistency([h16, h32], [q]).item() == 0.0
    h16b = torch.tensor([[0.5, 0.0]])
    assert admth_consistency([h16b, h32], [q]).item() == pytest.approx(0.5 + 1.0)
    with pytest.raises(ValueError, match="need 1 projections"):
        admth_consistency([h16, h32], [])
    with pytest.raises(ValueError, match=r"Q must be \(2, 3\)"):
        admth_consistency([h16, h32], [q.T])


def test_admth_consistency_sums_neighbouring_lengths():
    codes = [torch.randn(3, n) for n in (2, 4, 6)]
    qs = [torch.randn(2, 4), torch.randn(4, 6)]
    loop = sum(
        sum(abs(v) for v in (codes[k + 1][i] @ qs[k].T - codes[k][i]).tolist()) / 3 for k in range(2) for i in range(3)
    )
    assert admth_consistency(codes, qs).item() == pytest.approx(loop)


def test_dpsh_likelihood_against_other_codes_equals_a_loop():
    u, others = torch.randn(3, 5), torch.randn(4, 5)
    s = (torch.rand(3, 4) > 0.5).double()
    loop = sum(math.log1p(math.exp(0.5 * u[i] @ others[j])) - s[i, j] * 0.5 * u[i] @ others[j]
               for i in range(3) for j in range(4)) / 12
    torch.testing.assert_close(dpsh_likelihood(u, s, others), torch.as_tensor(loop))


def test_code_memory_pairs_a_batch_with_every_training_code():
    labels = torch.tensor([0, 1, 0, 2])
    memory = CodeMemory(labels, widths=(3,))
    u = torch.randn(2, 3, requires_grad=True)
    memory.update(torch.tensor([1, 2]), {3: u})
    assert torch.equal(memory.codes[3][[1, 2]], u.detach()) and not memory.codes[3][[0, 3]].any()
    assert memory.similarity(torch.tensor([0, 2])).tolist() == [[1, 0, 1, 0], [0, 0, 0, 1]]
    loss = pairwise_likelihood(u, labels[[1, 2]], memory)
    torch.testing.assert_close(loss, dpsh_likelihood(u, similarity_matrix(labels[[1, 2]], labels), memory.codes[3]))
    loss.backward()
    assert u.grad is not None and not memory.codes[3].requires_grad
    restored = CodeMemory(labels, widths=(3,))
    restored.load_state_dict(memory.state_dict())
    assert torch.equal(restored.codes[3], memory.codes[3])


def test_dah_one_sided_dissimilar_term_is_the_hinge_of_the_paper_term():
    x = torch.tensor([[0.26, 0.74], [0.74, 0.26], [0.5, 0.5]])
    s = torch.zeros(3, 3)
    t = 0.1  # far below what (0,1) reaches: the paper's |.| pulls it back, the hinge does not
    gap = lambda i, j: t + sum(math.log(1 - abs(x[i, k] - x[j, k])) for k in range(2))  # noqa: E731
    two_sided = sum(abs(gap(i, j)) for i, j in pairs(3)) / 6
    one_sided = sum(max(0.0, gap(i, j)) for i, j in pairs(3)) / 6
    torch.testing.assert_close(dah_pair_loss(x, s, threshold=t), torch.as_tensor(two_sided))
    torch.testing.assert_close(dah_pair_loss(x, s, threshold=t, one_sided=True), torch.as_tensor(one_sided))
    assert one_sided < two_sided


def test_class_loss_label_smoothing_by_hand():
    logits, labels, eps = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0]), 0.3
    log_p = torch.log_softmax(logits, dim=1)[0]
    target = torch.tensor([1 - eps + eps / 3, eps / 3, eps / 3])
    torch.testing.assert_close(class_loss(logits, labels, eps), -(target * log_p).sum())
