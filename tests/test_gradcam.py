"""Tests of hashlib_tutorial.gradcam: the code-similarity target and Grad-CAM on a tiny hashing model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hashlib_tutorial.gradcam import CodeOutput, CodeSimilarityTarget, cam_for, central_box, heat_share
from hashlib_tutorial.model.heads import HashHead
from hashlib_tutorial.model.network import HashingModel


class TinyBackbone(nn.Module):
    """Two convs and a global pool: (B, 3, 16, 16) -> (B, 8), with a (B, 8, 8, 8) map to explain."""

    out_features = 8

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())  # (B, 8, 8, 8)
        self.conv2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())            # (B, 8, 8, 8)

    def forward(self, x):
        return self.conv2(self.conv1(x)).mean(dim=(2, 3))


def tiny_model(bits: int = 6, num_classes: int | None = 3) -> HashingModel:
    torch.manual_seed(0)
    backbone = TinyBackbone()
    return HashingModel(backbone, HashHead(backbone.out_features, bits, activation="tanh"), num_classes)


def test_target_equals_the_dot_product_by_hand():
    u, code = torch.randn(12), np.where(np.random.default_rng(0).random(12) > 0.5, 1, -1)
    by_hand = sum(float(u[k]) * int(code[k]) for k in range(12))
    torch.testing.assert_close(CodeSimilarityTarget(code)(u), torch.tensor(by_hand))


def test_target_accepts_0_1_codes_and_a_centre():
    u, bits = torch.rand(5), torch.tensor([1, 0, 0, 1, 1])
    by_hand = sum((float(u[k]) - 0.5) * (1 if bits[k] else -1) for k in range(5))
    torch.testing.assert_close(CodeSimilarityTarget(bits, center=0.5)(u), torch.tensor(by_hand))


def test_target_refuses_a_code_of_another_length():
    with pytest.raises(ValueError, match="6-bit codes"):
        CodeSimilarityTarget(np.ones(4))(torch.randn(6))


def test_code_output_is_one_tensor_of_relaxed_codes():
    model = tiny_model(bits=6)
    x = torch.randn(2, 3, 16, 16)
    codes, _ = model(x)
    torch.testing.assert_close(CodeOutput(model)(x), codes)
    torch.testing.assert_close(CodeOutput(model, columns=slice(2, 6))(x), codes[:, 2:6])


def test_sign_has_no_gradient_but_the_relaxed_code_has():
    model, x = tiny_model(), torch.randn(1, 3, 16, 16, requires_grad=True)
    target = CodeSimilarityTarget(np.ones(6))
    target(CodeOutput(model)(x)[0].sign()).backward()
    assert x.grad is None or torch.all(x.grad == 0)
    x.grad = None
    target(CodeOutput(model)(x)[0]).backward()
    assert x.grad.abs().sum() > 0


def test_cam_has_the_input_shape_and_values_in_0_1():
    model, x = tiny_model(), torch.randn(3, 3, 16, 16)
    query_code = np.array([1, -1, 1, 1, -1, -1])
    maps = cam_for(model, x, model.backbone.conv2, query_code)
    assert maps.shape == (3, 16, 16)
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0


def test_cam_takes_one_code_per_image():
    model, x = tiny_model(), torch.randn(2, 3, 16, 16)
    codes = torch.tensor([[1, -1, 1, 1, -1, -1], [-1, -1, 1, -1, 1, 1]])
    assert cam_for(model, x, model.backbone.conv1, codes).shape == (2, 16, 16)
    with pytest.raises(ValueError, match="one per image"):
        cam_for(model, x, model.backbone.conv1, codes[:1].repeat(3, 1))


def test_central_box_of_half_the_side_is_a_quarter_of_the_image():
    box = central_box(32, 32)
    assert box.mean() == 0.25 and box[8:24, 8:24].all()
    with pytest.raises(ValueError, match="fraction"):
        central_box(32, 32, fraction=0.0)


def test_heat_share_of_a_uniform_map_is_the_area_fraction():
    region = central_box(8, 8)
    maps = np.stack([np.ones((8, 8)), region.astype(float), np.zeros((8, 8))])   # uniform, all inside, empty
    np.testing.assert_allclose(heat_share(maps, region), [region.mean(), 1.0, 0.0])
    with pytest.raises(ValueError, match="region"):
        heat_share(maps, central_box(4, 4))
