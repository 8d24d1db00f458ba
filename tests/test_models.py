import urllib.error

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

from hashlib_tutorial.model.attention import CBAM, SimAM
from hashlib_tutorial.model.backbones import BACKBONES, AlexNetTrunk, DAHResNet30, ResNet18, build_backbone
from hashlib_tutorial.model.heads import HashHead, MultiLengthHead, ShrinkSigmoid
from hashlib_tutorial.model.network import HashingModel, MultiLengthHashingModel
from hashlib_tutorial.model.summary import count_parameters, multiply_adds

BACKBONE_CASES = {  # name: (kwargs, input size, feature width)
    "resnet18": ({"attention": "simam"}, 32, 512),
    "dah_resnet30": ({}, 32, 1024),
    "resnet9": ({"width": 0.25, "attention": "se"}, 32, 128),
    "resnet18 narrow": ({"stem": "cifar", "width": 0.25, "attention": "simam", "placement": "blocks"}, 32, 128),
    "alexnet": ({}, 64, 256 * 36),
}


@pytest.mark.parametrize("name", sorted(BACKBONE_CASES))
def test_backbones_map_images_to_feature_vectors(name):
    kwargs, size, width = BACKBONE_CASES[name]
    net = build_backbone(name.split()[0], **kwargs)
    features = net(torch.randn(2, 3, size, size))
    assert features.shape == (2, width) == (2, net.out_features)


def test_backbone_registry_is_covered_by_the_cases():
    assert {name.split()[0] for name in BACKBONE_CASES} == set(BACKBONES)


def test_narrow_resnet18_keeps_the_layout_and_refuses_imagenet_weights():
    full, narrow = build_backbone("resnet18", stem="cifar"), build_backbone("resnet18", stem="cifar", width=0.25)
    blocks = lambda net: [type(m).__name__ for m in net.modules() if type(m).__name__ == "BasicBlock"]  # noqa: E731
    assert blocks(full) == blocks(narrow) and len(blocks(narrow)) == 8
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert 0.04 < count(narrow) / count(full) < 0.08  # about width^2 = 1/16 of the weights
    with pytest.raises(ValueError, match="width 1 only"):
        build_backbone("resnet18", width=0.5, weights="imagenet")


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        build_backbone("vgg16")
    with pytest.raises(ValueError, match="'imagenet' or 'cifar'"):
        ResNet18(stem="tiny")
    with pytest.raises(ValueError, match="'stem', 'blocks' or 'stages'"):
        ResNet18(attention="se", placement="everywhere")


def test_resnet18_attention_placement():
    stem = ResNet18(attention="simam", placement="stem")
    blocks = ResNet18(attention="simam", placement="blocks")
    count = lambda net, kind: sum(isinstance(m, kind) for m in net.modules())  # noqa: E731
    assert count(stem, SimAM) == 1 and count(blocks, SimAM) == 8  # 8 basic blocks in ResNet-18
    assert count(ResNet18(attention="cbam", placement="blocks"), CBAM) == 8
    stages = ResNet18(stem="cifar", attention="cbam", placement="stages", width=0.25)
    assert count(stages, CBAM) == 4  # DAH's Table 1: after the stem and every stage but the last
    assert [type(layer[-1]) for layer in stages.layers] == [CBAM, CBAM, CBAM, BasicBlock]
    assert isinstance(stages.stem_attention, CBAM)  # y = CBAM(x), not x + CBAM(x)
    x = torch.randn(1, 64, 8, 8)
    torch.testing.assert_close(stem.stem_attention(x), x + SimAM()(x))  # DPFAH: x + SimAM(x)


def test_cifar_stem_keeps_resolution():
    net = ResNet18(stem="cifar")
    assert net.stem(torch.randn(1, 3, 32, 32)).shape == (1, 64, 32, 32)
    assert ResNet18().stem(torch.randn(1, 3, 32, 32)).shape == (1, 64, 8, 8)


def test_dah_resnet30_follows_table_1():
    net = DAHResNet30()
    x = net.stem(torch.randn(1, 3, 32, 32))
    assert x.shape == (1, 64, 32, 32)
    shapes = []
    for stage in net.stages:
        x = stage(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(256, 16, 16), (512, 8, 8), (1024, 4, 4)]
    assert sum(isinstance(m, CBAM) for m in net.modules()) == 3
    assert sum(isinstance(m, CBAM) for m in DAHResNet30(attention=None).modules()) == 0
    # the 3x3 convs of the blocks are depthwise (groups = channels)
    depthwise = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 9 and all(m.groups == m.in_channels for m in depthwise)


def test_alexnet_refuses_small_images_with_the_fix():
    with pytest.raises(ValueError, match="at least 63 px"):
        AlexNetTrunk()(torch.randn(1, 3, 32, 32))


def test_missing_imagenet_weights_offline_give_an_error_naming_the_fix(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)  # as with no network
    with pytest.raises(RuntimeError, match="weights=None"):
        ResNet18(weights="imagenet")
    with pytest.raises(ValueError, match="'imagenet' or None"):
        ResNet18(weights="imagenet21k")


def test_shrink_sigmoid_is_the_paper_formula_and_stays_in_a_quarter_band():
    z = torch.linspace(-50, 50, 101, dtype=torch.float64)
    torch.testing.assert_close(ShrinkSigmoid()(z), 0.25 + 1 / (2 * (1 + torch.exp(-z))))
    x = ShrinkSigmoid()(torch.tensor([-10.0, 0.0, 10.0]))
    assert x[0] > 0.2499 and x[1] == 0.5 and x[2] < 0.7501


@pytest.mark.parametrize("activation,low,high", [("tanh", -1, 1), ("shrink_sigmoid", 0.25, 0.75)])
def test_hash_head_ranges(activation, low, high):
    codes = HashHead(16, 12, activation)(torch.randn(5, 16) * 10)
    assert codes.shape == (5, 12) and codes.min() >= low and codes.max() <= high


def test_hash_head_refuses_bad_bits_and_activation():
    with pytest.raises(ValueError, match="positive integer"):
        HashHead(8, 0)
    with pytest.raises(ValueError, match="choose one of"):
        HashHead(8, 4, "relu")


@pytest.mark.parametrize("split_at", [0, 1, 2])
def test_multi_length_head_branches_and_split_point(split_at):
    head = MultiLengthHead(32, bits=(16, 32, 48, 64), hidden=(24, 20), split_at=split_at).eval()
    codes = head(torch.randn(3, 32))
    assert codes.shape == (3, 160)
    assert [c.shape[1] for c in head.split(codes)] == [16, 32, 48, 64]
    shared_linears = sum(isinstance(m, nn.Linear) for m in head.shared.modules())
    assert shared_linears == split_at
    assert all(sum(isinstance(m, nn.Linear) for m in b.modules()) == 3 - split_at for b in head.branches)


def test_multi_length_head_refuses_unsorted_bits():
    with pytest.raises(ValueError, match="increasing"):
        MultiLengthHead(8, bits=(32, 16))


def test_hashing_model_classifier_reads_features_or_codes():
    dpfah_like = HashingModel(ResNet18(), HashHead(512, 32, "linear"), num_classes=10, classify_from="features")
    dah_like = HashingModel(DAHResNet30(), HashHead(1024, 12, "shrink_sigmoid"), num_classes=10, classify_from="codes")
    x = torch.randn(2, 3, 32, 32)
    for model, bits, width in [(dpfah_like, 32, 512), (dah_like, 12, 12)]:
        codes, logits = model(x)
        assert codes.shape == (2, bits) and logits.shape == (2, 10)
        assert model.classifier.in_features == width
    codes, logits = HashingModel(AlexNetTrunk(pool_size=1), MultiLengthHead(256, (16, 32), (8,)))(torch.randn(2, 3, 64, 64))
    assert codes.shape == (2, 48) and logits is None


def test_the_multi_length_model_owns_one_q_k_per_pair_of_neighbouring_lengths():
    head = MultiLengthHead(32, bits=(8, 16, 32), hidden=(24,))
    model = MultiLengthHashingModel(nn.Flatten(), head)
    model.backbone.out_features = 32
    assert [tuple(q.shape) for q in model.projections] == [(8, 16), (16, 32)]  # Q_k: (L_k, L_{k+1})
    assert {name for name, _ in model.named_parameters() if name.startswith("projections")} == {
        "projections.0", "projections.1"}  # saved, optimised and synchronised with every other weight


def test_parameters_and_multiply_adds_counted_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 5))
    assert count_parameters(net) == (3 * 4 * 9 + 4) + (4 * 9 + 4) + (256 * 5 + 5)
    # per sample: output elements x (C_in / groups) x k_h x k_w for each convolution, D_in x D_out for the layer
    by_hand = 4 * 8 * 8 * 3 * 9 + 4 * 8 * 8 * 1 * 9 + 256 * 5
    assert multiply_adds(net, torch.zeros(2, 3, 8, 8)) == by_hand
    assert not any(m._forward_hooks for m in net.modules())  # the counting hooks are gone


def test_a_normalized_hash_layer_keeps_every_bit_centred_with_unit_spread():
    from hashlib_tutorial.model.heads import HashHead, MultiLengthHead

    torch.manual_seed(0)
    features = torch.rand(64, 20) + 3.0  # uncentred, like post-ReLU features
    for head in (HashHead(20, 8, "linear", normalize=True), MultiLengthHead(20, (8, 16), hidden=(32,), normalize=True)):
        head.train()
        codes = head(features)
        if isinstance(head, HashHead):  # linear: exactly standardised over the batch
            torch.testing.assert_close(codes.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
            torch.testing.assert_close(codes.var(0, unbiased=False), torch.ones(8), atol=1e-3, rtol=0)
        assert (codes > 0).float().mean(0).min() > 0.2  # no bit takes one sign on (almost) every image
    assert "norm.running_mean" not in HashHead(20, 8, "linear").state_dict()  # the default head is unchanged
