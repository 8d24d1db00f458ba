import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hashlib_tutorial.model.attention import ATTENTION, CBAM, SEBlock, SimAM, build_attention


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_keeps_shape_and_passes_gradients(name):
    block = build_attention(name, channels=32)
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.sum().backward()
    assert x.grad is not None
    assert all(p.grad is not None for p in block.parameters())  # none for SimAM, by design


def test_registry_rejects_unknown_names_and_builds_identity_for_none():
    with pytest.raises(ValueError, match="choose one of"):
        build_attention("eca", 8)
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(build_attention(None, 8)(x), x)
    assert torch.equal(build_attention("none", 8)(x), x)


def test_parameter_counts():
    assert sum(p.numel() for p in SimAM().parameters()) == 0
    assert sum(p.numel() for p in SEBlock(64).parameters()) == 2 * 64 * 4  # two bias-free FCs, r = 16
    # shared MLP with biases (64*4 + 4 + 4*64 + 64) + 7x7 conv on 2 maps + BN affine
    assert sum(p.numel() for p in CBAM(64).parameters()) == 64 * 4 + 4 + 4 * 64 + 64 + 2 * 49 + 2


def test_se_block_matches_a_hand_computation():
    block = SEBlock(4, reduction=2)
    with torch.no_grad():
        block.squeeze_to_hidden.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, -1.0]]))
        block.hidden_to_gate.weight.copy_(torch.tensor([[1.0, 0], [0, 1.0], [0, 0], [1.0, 1.0]]))
    x = torch.ones(1, 4, 2, 2) * torch.tensor([2.0, 1.0, 3.0, -1.0])[None, :, None, None]
    # G = (2, 1, 3, -1); hidden = relu(2, 1) = (2, 1); gate = sigmoid(2, 1, 0, 3)
    gate = torch.sigmoid(torch.tensor([2.0, 1.0, 0.0, 3.0]))
    torch.testing.assert_close(block(x), x * gate[None, :, None, None])


def test_cbam_matches_an_independent_computation():
    torch.manual_seed(0)
    block = CBAM(8, reduction=4).eval()
    x = torch.randn(2, 8, 5, 5)
    w1, b1, w2, b2 = block.mlp[0].weight, block.mlp[0].bias, block.mlp[2].weight, block.mlp[2].bias
    mlp = lambda v: F.linear(F.relu(F.linear(v, w1, b1)), w2, b2)  # noqa: E731
    avg, mx = x.flatten(2).mean(-1), x.flatten(2).max(-1).values
    x1 = x * torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]
    maps = torch.stack([x1.max(1).values, x1.mean(1)], dim=1)
    bn = block.spatial_bn
    s = F.conv2d(maps, block.spatial_conv.weight, padding=3)
    s = (s - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(block(x), x1 * torch.sigmoid(s))


def test_simam_equals_the_paper_energy_written_per_neuron():
    """out = x * sigmoid(1 / e*), e* = 4 (s^2 + l) / ((t - mu)^2 + 2 s^2 + 2 l) (DPFAH Eq. 8), mu, s^2 per channel."""
    lam = 0.1
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    expected = torch.empty_like(x)
    for b in range(2):
        for c in range(3):
            channel = x[b, c].flatten().tolist()
            mu = sum(channel) / len(channel)
            s2 = sum((v - mu) ** 2 for v in channel) / (len(channel) - 1)
            for i in range(4):
                for j in range(5):
                    t = x[b, c, i, j].item()
                    e = 4 * (s2 + lam) / ((t - mu) ** 2 + 2 * s2 + 2 * lam)
                    expected[b, c, i, j] = t / (1 + np.exp(-1 / e))
    torch.testing.assert_close(SimAM(e_lambda=lam)(x), expected)


def test_simam_closed_form_is_the_minimum_of_its_energy():
    """Minimise e_t(w, b) = 1/(M-1) sum_i (-1 - (w x_i + b))^2 + (1 - (w t + b))^2 + l w^2 by least squares
    and compare w, b and e* with the closed form (DPFAH Eqs. 5-8; mu, s^2 over the M - 1 other neurons)."""
    rng = np.random.default_rng(0)
    others, t, lam = rng.normal(size=15), 1.7, 1e-2
    m1 = len(others)
    # weighted least squares rows: sqrt(1/(M-1)) [x_i, 1] -> -1, [t, 1] -> 1, sqrt(l) [1, 0] -> 0
    a = np.vstack([np.c_[others, np.ones(m1)] / np.sqrt(m1), [[t, 1.0]], [[np.sqrt(lam), 0.0]]])
    y = np.r_[-np.ones(m1) / np.sqrt(m1), 1.0, 0.0]
    (w, b), *_ = np.linalg.lstsq(a, y, rcond=None)
    energy = np.sum((a @ [w, b] - y) ** 2)
    mu, s2 = others.mean(), others.var()
    w_closed = 2 * (t - mu) / ((t - mu) ** 2 + 2 * s2 + 2 * lam)
    b_closed = -0.5 * (t + mu) * w_closed
    e_closed = 4 * (s2 + lam) / ((t - mu) ** 2 + 2 * s2 + 2 * lam)
    np.testing.assert_allclose([w, b, energy], [w_closed, b_closed, e_closed], rtol=1e-10)


def test_simam_on_a_one_by_one_map_is_finite_and_gives_the_base_weight():
    x = torch.randn(2, 4, 1, 1, requires_grad=True)
    y = SimAM()(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, x * torch.sigmoid(torch.tensor(0.5)))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
