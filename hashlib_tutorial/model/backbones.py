"""Feature extractors of the three papers: ResNet-18 (DPFAH), DAH's ResNet-30 and an AlexNet trunk (ADMTH).

Every backbone maps images (B, 3, H, W) to features (B, out_features) and is built by
:func:`build_backbone`. Attention blocks come from :mod:`hashlib_tutorial.model.attention`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchvision import models
from torchvision.models.resnet import BasicBlock

from .attention import SimAM, build_attention


def _imagenet_weights(name: str, weights: str | None) -> object | None:
    """torchvision's ImageNet weights enum for ``name``, or None; ValueError for an unknown choice."""
    if weights is None or weights == "none":
        return None
    if weights != "imagenet":
        raise ValueError(f"unknown weights {weights!r}; choose 'imagenet' or None")
    return {"resnet18": models.ResNet18_Weights.IMAGENET1K_V1, "alexnet": models.AlexNet_Weights.IMAGENET1K_V1}[name]


def _load_torchvision(name: str, factory: Callable[..., nn.Module], weights: str | None) -> nn.Module:
    """Build a torchvision model, turning a failed weight download into an error that names the fix."""
    enum = _imagenet_weights(name, weights)
    try:
        return factory(weights=enum)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a truncated file a RuntimeError
        file = enum.url.rsplit("/", 1)[-1]
        raise RuntimeError(
            f"could not load ImageNet weights for {name} ({error}). Without internet, copy {file} into "
            f"{torch.hub.get_dir()}/checkpoints/, or build the backbone with weights=None (random init)."
        ) from error


class StemAttention(nn.Module):
    r"""DPFAH's use of SimAM: applied once to the stem output and added back, y = x + SimAM(x)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class ResNet18(nn.Module):
    r"""torchvision's ResNet-18 with a choice of stem and of where attention goes (DPFAH Sec. 3).

    Stems: ``"imagenet"`` (7x7 conv stride 2 + max-pool: 32 px inputs end at 1x1, fast on a CPU) or
    ``"cifar"`` (3x3 conv stride 1, no max-pool: 32 px inputs end at 4x4, about 9x the compute).
    ``width`` scales every layer's channels (1.0 is the paper's network; the CPU profiles use a
    narrower one with the CIFAR stem, which keeps 4x4 maps in the last stage).
    Placements: ``"stem"``: y = x + A(x) after the stem (DPFAH); ``"blocks"``: inside every residual
    block, where each module's reference code puts it (SimAM before the block's second BN, SE and
    CBAM after it, before the residual add); ``"stages"``: y = A(x) after the stem and after every
    stage but the last, as DAH's Table 1 places CBAM (at every resolution but the smallest).

    Args:
        stem: "imagenet" or "cifar".
        attention: "se", "cbam", "simam" or None.
        placement: "stem", "blocks" or "stages".
        weights: "imagenet" (torchvision's weights, downloaded once; width 1 only) or None. The
            "cifar" stem's 3x3 conv is always new.
        attention_kwargs: passed to the attention block, e.g. {"e_lambda": 1e-4}.
        width: multiplies every layer's channels (64, 128, 256, 512 at 1.0).
    Shape: (B, 3, H, W) -> (B, 512 width)
    """

    def __init__(
        self,
        stem: str = "imagenet",
        attention: str | None = None,
        placement: str = "stem",
        weights: str | None = None,
        attention_kwargs: dict | None = None,
        width: float = 1.0,
    ):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"unknown stem {stem!r}; choose 'imagenet' or 'cifar'")
        if placement not in ("stem", "blocks", "stages"):
            raise ValueError(f"unknown placement {placement!r}; choose 'stem', 'blocks' or 'stages'")
        if width != 1.0 and weights not in (None, "none"):
            raise ValueError(f"ImageNet weights exist for width 1 only, got width={width}")
        net = _load_torchvision("resnet18", models.resnet18, weights) if width == 1.0 else _narrow_resnet18(width)
        c = net.conv1.out_channels
        if stem == "cifar":
            net.conv1 = nn.Conv2d(3, c, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        kwargs = attention_kwargs or {}
        attend = attention not in (None, "none")
        layers = [net.layer1, net.layer2, net.layer3, net.layer4]
        stem_attention: nn.Module = nn.Identity()
        if attend and placement == "stem":
            stem_attention = StemAttention(build_attention(attention, c, **kwargs))
        elif attend and placement == "stages":
            stem_attention = build_attention(attention, c, **kwargs)
            layers[:3] = [nn.Sequential(*layer, build_attention(attention, layer[-1].bn2.num_features, **kwargs))
                          for layer in layers[:3]]
        elif attend:
            for layer in layers:
                for block in layer:
                    a = build_attention(attention, block.bn2.num_features, **kwargs)
                    block.bn2 = nn.Sequential(a, block.bn2) if isinstance(a, SimAM) else nn.Sequential(block.bn2, a)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stem_attention = stem_attention
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = net.fc.in_features

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem_attention(self.stem(x))  # (B, 64 w, H/4, W/4) or (B, 64 w, H, W) for the cifar stem
        return self.pool(self.layers(x)).flatten(1)  # (B, 512 w)


def _narrow_resnet18(width: float) -> models.ResNet:
    """torchvision's ResNet-18 with every layer's channels multiplied by ``width`` (random weights)."""
    net = models.resnet18()
    channels = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
    net.conv1 = nn.Conv2d(3, channels[0], 7, 2, 3, bias=False)
    net.bn1 = nn.BatchNorm2d(channels[0])
    c_in = channels[0]
    for i, c in enumerate(channels):
        stride = 1 if i == 0 else 2
        down = None if stride == 1 and c_in == c else nn.Sequential(
            nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))
        setattr(net, f"layer{i + 1}", nn.Sequential(BasicBlock(c_in, c, stride, down), BasicBlock(c, c)))
        c_in = c
    net.fc = nn.Linear(c_in, 1000)
    for m in net.modules():  # torchvision's initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    """y = x + f(x) with f two 3x3 conv-BN-ReLU layers, then an attention block on y."""

    def __init__(self, channels: int, attention: nn.Module):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))
        self.attention = attention

    def forward(self, x: Tensor) -> Tensor:
        return self.attention(x + self.body(x))


class ResNet9(nn.Module):
    r"""A small, fast CIFAR-10 network: the 9-layer ResNet of the fast CIFAR-10 training recipes
    (D. Page, "How to train your ResNet", Myrtle.ai, 2018), not one of the three papers' networks.

        prep: conv 64w                                                 32 x 32
        layer1: conv 128w -> max-pool -> residual (2 convs, 128w)      16 x 16
        layer2: conv 256w -> max-pool                                  8 x 8
        layer3: conv 512w -> max-pool -> residual (2 convs, 512w)      4 x 4
        global max-pool                                                512w

    Every conv is 3x3 conv + BN + ReLU. Attention (any registry name) goes after each residual
    block's addition, or once after the prep conv as y = x + A(x) (``placement="stem"``, DPFAH's way).

    Args:
        width: w, multiplies every layer's channels (1.0 is the published network).
        attention: "se", "cbam", "simam" or None.
        placement: "blocks" or "stem".
        attention_kwargs: passed to the attention block.
    Shape: (B, 3, H, W) -> (B, 512 w)
    """

    def __init__(self, width: float = 0.25, attention: str | None = None, placement: str = "blocks",
                 attention_kwargs: dict | None = None):
        super().__init__()
        if placement not in ("stem", "blocks"):
            raise ValueError(f"unknown placement {placement!r}; choose 'stem' or 'blocks'")
        c1, c2, c3, c4 = (max(1, round(c * width)) for c in (64, 128, 256, 512))
        kwargs = attention_kwargs or {}
        block_attention = (lambda c: build_attention(attention if placement == "blocks" else None, c, **kwargs))  # noqa: E731
        stem_attention = StemAttention(build_attention(attention, c1, **kwargs)) \
            if placement == "stem" and attention not in (None, "none") else nn.Identity()
        self.stem = nn.Sequential(_conv_bn(3, c1), stem_attention)
        self.layers = nn.Sequential(
            _conv_bn(c1, c2), nn.MaxPool2d(2), _Residual(c2, block_attention(c2)),
            _conv_bn(c2, c3), nn.MaxPool2d(2),
            _conv_bn(c3, c4), nn.MaxPool2d(2), _Residual(c4, block_attention(c4)),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.out_features = c4

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.layers(self.stem(x))).flatten(1)  # (B, 512 w)


class SeparableConv2d(nn.Sequential):
    """Keras' SeparableConv2D: a depthwise k x k convolution, then a pointwise 1 x 1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )


class DAHBottleneck(nn.Module):
    r"""DAH's conv block (``stride`` 2, projection shortcut) or identity block (stride 1, identity shortcut).

        y = relu( BN(pw(f3)) o relu o BN(sep3x3(f2, stride)) o relu o BN(pw(f1)) (x) + shortcut(x) )

    Differences from the paper: DAH's Table 1 names SeparableConv2D+BN for every conv; a separable
    1x1 conv is a per-channel scale followed by a 1x1 conv, which the following BN absorbs, so the
    1x1 convs here are plain 1x1 convs. The stride sits on the 3x3 conv (Table 1 does not say where).
    """

    def __init__(self, in_channels: int, filters: tuple[int, int, int], stride: int = 1):
        super().__init__()
        f1, f2, f3 = filters
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, f1, 1, bias=False), nn.BatchNorm2d(f1), nn.ReLU(inplace=True),
            SeparableConv2d(f1, f2, 3, stride), nn.BatchNorm2d(f2), nn.ReLU(inplace=True),
            nn.Conv2d(f2, f3, 1, bias=False), nn.BatchNorm2d(f3),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != f3:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, f3, 1, stride, bias=False), nn.BatchNorm2d(f3))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class DAHResNet30(nn.Module):
    r"""DAH's "ResNet-30" feature extractor, after the paper's Table 1 (32 x 32 inputs).

        input BN -> 3x3 conv 64 -> BN+ReLU -> 3x3 max-pool (stride 1) -> CBAM        32x32x64
        stage 1: conv block + 2 identity blocks, filters (64, 64, 256) -> CBAM       16x16x256
        stage 2: conv block + 2 identity blocks, filters (128, 128, 512) -> CBAM     8x8x512
        stage 3: conv block + 2 identity blocks, filters (256, 256, 1024)            4x4x1024
        global average pooling                                                       1024

    1 stem conv + 9 blocks x 3 convs = 28 weighted layers, plus the hash and softmax layers: 30.

    Args:
        attention: "cbam" (the paper) or None (the paper's NoneA-DAH ablation); any registry name works.
        width: multiplies every layer's channels; 1.0 is the paper's network. The quick CPU profile uses
            0.25 (1/16 of the multiply-adds), a deviation it states.
    Shape: (B, 3, H, W) -> (B, 1024 width)
    """

    stage_filters = ((64, 64, 256), (128, 128, 512), (256, 256, 1024))

    def __init__(self, attention: str | None = "cbam", width: float = 1.0):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        scaled = lambda n: max(1, round(n * width))  # noqa: E731
        channels = scaled(64)
        self.stem = nn.Sequential(
            nn.BatchNorm2d(3),
            nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=1, padding=1),
            build_attention(attention, channels),
        )
        stages = []
        for i, full_filters in enumerate(self.stage_filters):
            filters = tuple(scaled(f) for f in full_filters)
            blocks = [DAHBottleneck(channels, filters, stride=2)]
            blocks += [DAHBottleneck(filters[2], filters) for _ in range(2)]
            if i < 2:  # CBAM after the first two stages
                blocks.append(build_attention(attention, filters[2]))
            stages.append(nn.Sequential(*blocks))
            channels = filters[2]
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)  # (B, 1024 width)


class AlexNetTrunk(nn.Module):
    r"""ADMTH's CNN-F trunk, stood in for by torchvision's AlexNet conv layers, with SE after the last conv.

        conv1..conv5 (+ReLU) -> SE (r = 16) -> 3x3 max-pool -> adaptive avg-pool to p x p -> flatten

    Differences from the paper: CNN-F (Chatfield et al. 2014) has no torchvision weights; AlexNet is the
    nearest public ImageNet trunk. Inputs must be at least 63 px (five 2x reductions); at 224 px the
    pooled map is 6 x 6 (9,216 features), as in AlexNet.

    Args:
        attention: "se" (the paper) or None (ablation).
        weights: "imagenet" or None.
        pool_size: p, side of the pooled feature map (6 matches AlexNet's classifier).
    Shape: (B, 3, H, W) -> (B, 256 p^2)
    """

    def __init__(self, attention: str | None = "se", weights: str | None = None, pool_size: int = 6):
        super().__init__()
        features = _load_torchvision("alexnet", models.alexnet, weights).features
        if weights in (None, "none"):  # He init: with PyTorch's default, random AlexNet features are ~0.01
            for conv in features:
                if isinstance(conv, nn.Conv2d):
                    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                    nn.init.zeros_(conv.bias)
        self.convs = features[:12]  # conv1 .. conv5 with their ReLUs and the first two max-pools
        self.attention = build_attention(attention, 256)
        self.pool = nn.Sequential(features[12], nn.AdaptiveAvgPool2d(pool_size))
        self.out_features = 256 * pool_size * pool_size

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[-2:]) < 63:
            raise ValueError(f"AlexNetTrunk needs images of at least 63 px, got {tuple(x.shape[-2:])}; resize them")
        return self.pool(self.attention(self.convs(x))).flatten(1)  # (B, 256 p^2)


BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": ResNet18,
    "resnet9": ResNet9,
    "dah_resnet30": DAHResNet30,
    "alexnet": AlexNetTrunk,
}


def build_backbone(name: str, **kwargs) -> nn.Module:
    """A backbone by name (see BACKBONES); kwargs go to its constructor."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)
