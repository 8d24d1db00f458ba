"""Methods: each composes a backbone, attention, a hash head and a loss, with a ``paper`` and a ``quick`` profile.

    build_method("dpfah", bits=32)                 -> a Method with its quick-profile TrainConfig
    build_method("dah", bits=12, profile="paper", epochs=5, attention=None)

Deep methods: dah, dpfah, admth (the three papers), dpsh and dsh (baselines on the same pipeline).
Non-deep baselines: lsh and itq (see :mod:`hashlib_tutorial.baselines`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from . import losses
from .backbones import build_backbone
from .heads import HashHead, MultiLengthHead
from .models import HashingModel


@dataclass
class TrainConfig:
    """Everything a run needs; printed at the start of a run and saved as ``config.json``."""

    method: str
    bits: tuple[int, ...]
    profile: str = "quick"
    dataset: str = "cifar10"
    protocol: str = "quick"
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"  # adam | rmsprop | sgd
    lr: float = 1e-3  # the peak learning rate
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    weight_decay: float = 0.0
    decay_norm_and_bias: bool = True  # False: no weight decay on biases and normalisation scales
    grad_clip: float = 0.0  # clip the gradient's global norm to this value, 0 for no clipping
    lr_schedule: str = "cosine"  # cosine (to 0 over the run) | constant | warmup_linear (one-cycle)
    warmup_fraction: float = 0.0  # warmup_linear: the fraction of the steps spent rising to lr
    precision: str = "auto"  # auto (fp16 on CUDA, bf16 on a CPU with native bf16, else fp32) | bf16 | fp16 | fp32
    channels_last: bool = False  # NHWC memory layout (faster convolutions on CPUs and tensor cores)
    image_size: int = 32
    backbone: str = "resnet18"
    backbone_kwargs: dict = field(default_factory=dict)
    attention: str | None = None
    augment: bool = True  # random crop (pad S / 8) and horizontal flip
    cutout: int = 0  # side of a random square zeroed in each training image, 0 for none
    label_smoothing: float = 0.0  # on class branches
    pairs: str = "batch"  # the likelihood's pairs: "batch" (B x B) or "memory" (B x N, every training code)
    departures: tuple[str, ...] = ()  # named departures from the paper (see each method's ``departures``)
    loss_weights: dict = field(default_factory=dict)
    eval_every: int = 5  # validation mAP (held-out training images) every N epochs
    val_fraction: float = 0.1
    seed: int = 0
    data_dir: str | None = None
    device: str = "auto"
    input_features: str = "pixels"  # lsh / itq only: "pixels" or a trained run directory (its backbone features)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PROFILES = ("quick", "demo", "cpu", "paper")
# What each profile is for:
#   quick  one model in at most 10 minutes on a 2-core CPU (``train --profile quick``, the default)
#   demo   the quick settings with fewer epochs: ``make demo`` and the course notebooks
#   cpu    the quick settings on the ``cifar10`` protocol: the reproduction report
#   paper  the paper's settings (image size, optimiser, epochs, ImageNet weights), for a GPU
#
# The CPU recipe of the quick, demo and cpu profiles, shared by every deep method: what bought the most
# mAP per CPU-second on 2 cores from random weights (measured one change at a time; the table is in
# REPRODUCTION.md). SGD with Nesterov momentum, a linear warm-up over the first 20% of the steps then
# a linear decay to 0 (the one-cycle shape of the fast CIFAR-10 recipes), weight decay on weights only,
# gradient-norm clipping (the DPSH likelihood of an unbounded linear hash layer diverges without it at
# this learning rate), label smoothing on class branches, bfloat16 autocast where the CPU has native
# bfloat16 (NCHW: the NHWC layout was slower for these narrow networks here), and batches augmented
# in memory (see :mod:`augment`).
CPU_RECIPE = dict(
    optimizer="sgd", nesterov=True, momentum=0.9, lr=0.1, weight_decay=5e-4, decay_norm_and_bias=False,
    lr_schedule="warmup_linear", warmup_fraction=0.2, grad_clip=2.0, label_smoothing=0.1, batch_size=256,
    precision="auto", eval_every=15,
)


def cpu_profiles(quick: dict, demo_epochs: int) -> dict[str, dict]:
    """The quick, demo and cpu profiles of a method, from its quick settings (see PROFILES)."""
    return {"quick": quick, "demo": {**quick, "epochs": demo_epochs}, "cpu": {**quick, "protocol": "cifar10"}}


class Method:
    """A hashing method: what to build, what to minimise, how to binarise. Subclasses fill in the paper."""

    name = ""
    paper = ""
    deep = True
    multi_length = False  # True: one model learns every code length at once (ADMTH)
    paper_bits: tuple[int, ...] = (16, 32, 48, 64)
    profiles: dict[str, dict] = {}
    departures: dict[str, str] = {}  # name -> what departs from the paper; a config lists those it takes

    def __init__(self, config: TrainConfig):
        unknown = set(config.departures) - set(self.departures)
        if unknown:
            raise ValueError(f"{self.name} has no departures {sorted(unknown)}; choose from {sorted(self.departures)}")
        if config.pairs not in ("batch", "memory"):
            raise ValueError(f"unknown pairs {config.pairs!r}; choose 'batch' or 'memory'")
        self.config = config

    def build_model(self, num_classes: int) -> nn.Module:
        raise NotImplementedError

    def loss(self, model: nn.Module, codes: Tensor, logits: Tensor | None, labels: Tensor,
             memory: losses.CodeMemory | None = None) -> tuple[Tensor, dict]:
        """The paper's objective on one batch; returns the total and its named parts (floats, for logs).

        ``memory`` holds every training image's code when the config's ``pairs`` is "memory"."""
        raise NotImplementedError

    def codes_by_length(self, model: nn.Module, codes: Tensor) -> dict[int, Tensor]:
        """Relaxed codes per code length, {K: (B, K)}."""
        return {self.config.bits[0]: codes}

    def code_widths(self) -> tuple[int, ...]:
        """The code lengths one model of this method outputs."""
        return self.config.bits

    def binarize(self, codes: Tensor) -> Tensor:
        """Binary codes in {-1, +1} from relaxed codes (sign; ties at 0 go to +1)."""
        return torch.where(codes >= 0, 1, -1).to(torch.int8)

    def _backbone(self) -> nn.Module:
        cfg = self.config
        return build_backbone(cfg.backbone, attention=cfg.attention, **cfg.backbone_kwargs)


class DPFAH(Method):
    r"""DPFAH (Yang, Wang, Cheng, Sci. Rep. 2022): ResNet-18 + SimAM on the stem (x + SimAM(x)),
    a linear hash branch u = W^T phi(x) + v and a classification branch on phi(x).

        L = sum_ij l_ij + eta sum_i sum_k q_ik + zeta L_class,   eta = 10, zeta = 0.1    (DPFAH Eq. 15)

    computed divided by B^2 (the number of pairs), so that the likelihood is a mean over pairs:

        L / B^2 = mean_ij l_ij + (eta K / B) mean_ik q_ik + zeta mean_i CE_i

    q is this project's reading of the omitted Eq. 13, see :func:`losses.dpfah_quantization`;
    L_class (Eq. 14, also omitted) is the mean cross-entropy (BCE for multi-label data), kept at
    weight zeta. Dividing eta by B matters: with eta = 10 on the per-entry mean, the quantisation
    gradient swamps the likelihood and the class loss stalls.

    With ``pairs="memory"`` the likelihood pairs the batch with every training image's last code
    (:class:`losses.CodeMemory`, as DPSH's reference code does) instead of with the batch alone.
    The CPU profiles use ResNet-18 at 1/4 width with the CIFAR stem, zeta = 1 (from random weights the
    class branch carries the features) and the recipe of :data:`CPU_RECIPE`.
    """

    name, paper = "dpfah", "Yang, Wang, Cheng, Sci. Rep. 2022"
    profiles = {
        "paper": dict(
            protocol="cifar10", epochs=150, batch_size=128, optimizer="rmsprop", lr=5e-5, weight_decay=1e-5,
            lr_schedule="constant", image_size=224,
            backbone_kwargs={"stem": "imagenet", "weights": "imagenet", "attention_kwargs": {"e_lambda": 1e-4}},
            attention="simam", loss_weights={"eta": 10.0, "zeta": 0.1}, eval_every=10,
        ),
        # CPU profiles (random weights, 32 px): the CPU recipe on ResNet-18 at 1/4 width with the 3x3
        # stride-1 CIFAR stem (the ImageNet stem leaves 1x1 maps in layer4 at 32 px; at full width the
        # CIFAR stem trains at about 80 img/s here), SimAM on the stem as in the paper, and zeta = 1:
        # from random weights the class branch carries the features.
        **cpu_profiles(dict(
            CPU_RECIPE, epochs=70, backbone_kwargs={"stem": "cifar", "width": 0.25, "attention_kwargs": {"e_lambda": 1e-4}},
            attention="simam", loss_weights={"eta": 10.0, "zeta": 1.0},
        ), demo_epochs=30),
    }

    def build_model(self, num_classes: int) -> nn.Module:
        backbone = self._backbone()
        head = HashHead(backbone.out_features, self.config.bits[0], activation="linear")
        return HashingModel(backbone, head, num_classes, classify_from="features")

    def loss(self, model, codes, logits, labels, memory=None):
        w = self.config.loss_weights
        likelihood = losses.pairwise_likelihood(codes, labels, memory)
        quantization = losses.dpfah_quantization(codes)
        classification = losses.class_loss(logits, labels, self.config.label_smoothing)
        eta = w["eta"] * codes.shape[1] / codes.shape[0]  # eta K / B, see the class docstring
        total = likelihood + eta * quantization + w["zeta"] * classification
        return total, {"likelihood": likelihood.item(), "quant": quantization.item(), "class": classification.item()}


class DPSH(Method):
    r"""DPSH (Li, Wang, Kang, IJCAI 2016) on the same backbone as DPFAH, without attention or class loss.

        L = L_DPSH(u) + eta mean_ik (sign(u_ik) - u_ik)^2,   eta = 0.1 (the field's reference setting)
    """

    name, paper = "dpsh", "Li, Wang, Kang, IJCAI 2016 (baseline)"
    profiles = {
        name: {**settings, "attention": None, "loss_weights": {"eta": 0.1}} for name, settings in DPFAH.profiles.items()
    }

    def build_model(self, num_classes: int) -> nn.Module:
        backbone = self._backbone()
        return HashingModel(backbone, HashHead(backbone.out_features, self.config.bits[0], activation="linear"))

    def loss(self, model, codes, logits, labels, memory=None):
        likelihood = losses.pairwise_likelihood(codes, labels, memory)
        quantization = losses.sign_quantization(codes)
        total = likelihood + self.config.loss_weights["eta"] * quantization
        return total, {"likelihood": likelihood.item(), "quant": quantization.item()}


class DSH(Method):
    r"""DSH (Liu et al., CVPR 2016) on the same backbone: contrastive loss with margin 2K + alpha |.|-regulariser."""

    name, paper = "dsh", "Liu, Wang, Shan, Chen, CVPR 2016 (baseline)"
    profiles = {
        name: {**settings, "loss_weights": {"alpha": 0.01}} for name, settings in DPSH.profiles.items()
    }

    build_model = DPSH.build_model

    def loss(self, model, codes, logits, labels, memory=None):
        total = losses.dsh_loss(codes, losses.similarity_matrix(labels), alpha=self.config.loss_weights["alpha"])
        return total, {"dsh": total.item()}


class DAH(Method):
    r"""DAH (Li et al., IEEE Access 2020): ResNet-30 with CBAM, a shrink-sigmoid hash layer and a softmax
    classifier on top of it.

        L = mean_{i != j} [ L_pair(i, j) + L_balance(i, j) ] + w_class L_CE   (DAH Eqs. 6-10, w_class = 1)

    Bits: 1 where x > 1/2. The paper's batch is 2 x the number of classes (20 on CIFAR-10).

    Departures of the CPU profiles (the ``paper`` profile has none; each is a config field, so the
    report can train both): ``one_sided_dissimilar`` (see :func:`losses.dah_pair_loss`: the paper's
    |t + sum log(1 - d)| also pulls dissimilar pairs back towards t, which slows training from random
    weights; the paper means the two-sided form, so this is a departure, not a fix), w_class = 5
    (``loss_weights["class"]``: the class loss reaches the network only through the bounded codes and
    learns slowly at the paper's weight), the recipe of :data:`CPU_RECIPE`, and the network: DPFAH's
    CPU network (ResNet-18 at 1/4 width, CIFAR stem) with CBAM in every block instead of the paper's
    depthwise-separable ResNet-30, which learned less per epoch and ran slower per epoch here (the
    measurements are in REPRODUCTION.md). ``--set backbone=dah_resnet30`` trains the paper's network.
    """

    name, paper = "dah", "Li et al., IEEE Access 2020"
    paper_bits = (12, 24, 36, 48)
    departures = {"one_sided_dissimilar": "dissimilar pairs: max(0, t + sum log(1 - |d|)) instead of "
                                          "|t + sum log(1 - |d|)|, so pairs beyond t are not pulled back"}
    profiles = {
        "paper": dict(
            protocol="cifar10-2", epochs=100, batch_size=20, optimizer="adam", lr=1e-3, lr_schedule="constant",
            image_size=32, backbone="dah_resnet30", backbone_kwargs={}, attention="cbam", augment=False,
            eval_every=10,
        ),
        # CPU profiles: the CPU recipe with batch 128 instead of 20 (throughput; the loss is a mean over
        # pairs either way; batch 256 learned less per epoch), the one-sided dissimilar term and
        # w_class = 5 and DPFAH's CPU network with CBAM in every block (see the class docstring).
        **cpu_profiles(dict(
            CPU_RECIPE, epochs=36, batch_size=128, backbone="resnet18",
            backbone_kwargs={"stem": "cifar", "width": 0.25, "placement": "blocks"}, attention="cbam",
            departures=("one_sided_dissimilar",), loss_weights={"class": 5.0},
        ), demo_epochs=30),
    }

    def build_model(self, num_classes: int) -> nn.Module:
        backbone = self._backbone()
        head = HashHead(backbone.out_features, self.config.bits[0], activation="shrink_sigmoid")
        return HashingModel(backbone, head, num_classes, classify_from="codes")

    def loss(self, model, codes, logits, labels, memory=None):
        one_sided = "one_sided_dissimilar" in self.config.departures
        pair = losses.dah_pair_loss(codes, losses.similarity_matrix(labels), one_sided=one_sided)
        balance = losses.dah_bit_balance(codes)
        classification = losses.class_loss(logits, labels, self.config.label_smoothing)
        total = pair + balance + self.config.loss_weights.get("class", 1.0) * classification
        return total, {"pair": pair.item(), "balance": balance.item(), "class": classification.item()}

    def binarize(self, codes: Tensor) -> Tensor:
        """+1 where x > 1/2, else -1 (DAH's bit = 1 where x > 1/2)."""
        return torch.where(codes > 0.5, 1, -1).to(torch.int8)


class ADMTH(Method):
    r"""ADMTH (Wang et al., Electronics 2023): AlexNet/CNN-F trunk + SE, one branch per code length split
    at the first fully connected layer, tanh codes, all lengths trained at once.

        L = alpha sum_k sum_ij l_ij^(k) + beta sum_k sum_i || Q_k u_i^(k+1) - u_i^(k) ||_1     (ADMTH Eq. 10)

    computed divided by B^2 (the number of pairs), as for DPFAH, so that the likelihood is a mean over pairs:

        L / B^2 = alpha sum_k mean_ij l_ij^(k) + (beta / B) sum_k mean_i || ... ||_1

    alpha = 20, beta = 1; the Q_k are learned with the network (``model.projections``). The L1 term's
    gradient does not shrink with the codes, so on the per-sample mean it would dominate; hence beta / B.

    From random weights (no ImageNet weights offline) this hash-only objective collapses on the
    AlexNet trunk: tanh codes of uncentred post-ReLU features shrink towards 0 within a few steps,
    most ReLUs die, and the likelihood sits at the saddle K ln 2 where its gradient (proportional to
    the codes) vanishes. The paper avoids it by fine-tuning a pretrained CNN-F. The CPU profiles depart
    from the paper in two named ways: the trunk is a BatchNorm network (ResNet-18 at 1/4 width with SE
    in every block), and ``class_loss``: a softmax classifier on the trunk's features, weighted by
    gamma, gives the random trunk features to hash. REPRODUCTION.md measures what each buys.
    """

    name, paper = "admth", "Wang et al., Electronics 2023"
    multi_length = True
    departures = {"class_loss": "a softmax classifier on the shared trunk's features, weight gamma "
                                "(loss_weights['gamma']), so a random trunk learns features before the codes"}
    profiles = {
        # The paper's learning rate (0.15, divided by 100 every 30 iterations) is not usable as stated
        # for SGD on a pretrained trunk; we use SGD 0.01 with momentum and a cosine schedule.
        "paper": dict(
            protocol="cifar10", epochs=100, batch_size=128, optimizer="sgd", lr=0.01, weight_decay=5e-4,
            image_size=224, backbone="alexnet", backbone_kwargs={"weights": "imagenet", "hidden": (4096, 4096),
            "split_at": 0}, attention="se", loss_weights={"alpha": 20.0, "beta": 1.0}, eval_every=10,
        ),
        # CPU profiles: no ImageNet CNN-F offline, and AlexNet's trunk from random weights at 64 px
        # collapses (see the class docstring), so the trunk is DPFAH's CPU network (ResNet-18 at 1/4 width,
        # CIFAR stem, 32 px) with SE in every block; each branch keeps the paper's split at the first fully
        # connected layer (two 256-wide layers, then the hash layer); and the class_loss departure, with
        # gamma = alpha so the class term weighs like one code length's likelihood.
        **cpu_profiles(dict(
            CPU_RECIPE, epochs=45, backbone="resnet18",
            backbone_kwargs={"stem": "cifar", "width": 0.25, "placement": "blocks", "hidden": (256, 256), "split_at": 0},
            attention="se", departures=("class_loss",), loss_weights={"alpha": 20.0, "beta": 1.0, "gamma": 20.0},
        ), demo_epochs=20),
    }

    def build_model(self, num_classes: int) -> nn.Module:
        cfg = self.config
        kwargs = dict(cfg.backbone_kwargs)
        hidden, split_at = kwargs.pop("hidden"), kwargs.pop("split_at")
        backbone = build_backbone(cfg.backbone, attention=cfg.attention, **kwargs)
        classes = num_classes if "class_loss" in cfg.departures else None
        model = HashingModel(backbone, MultiLengthHead(backbone.out_features, cfg.bits, hidden, split_at), classes)
        # Q_k: (L_k, L_{k+1}), maps each longer code to the next shorter one
        model.projections = nn.ParameterList(
            nn.Parameter(torch.randn(short, long) / long**0.5) for short, long in zip(cfg.bits[:-1], cfg.bits[1:])
        )
        return model

    def codes_by_length(self, model, codes):
        return dict(zip(self.config.bits, _unwrap(model).head.split(codes)))

    def loss(self, model, codes, logits, labels, memory=None):
        w = self.config.loss_weights
        per_length = list(self.codes_by_length(model, codes).values())
        likelihood = sum(losses.pairwise_likelihood(u, labels, memory) for u in per_length)
        consistency = losses.admth_consistency(per_length, list(_unwrap(model).projections))
        total = w["alpha"] * likelihood + w["beta"] / codes.shape[0] * consistency  # beta / B, see the docstring
        parts = {"likelihood": likelihood.item(), "consistency": consistency.item()}
        if logits is not None:  # the class_loss departure
            classification = losses.class_loss(logits, labels, self.config.label_smoothing)
            total = total + w["gamma"] * classification
            parts["class"] = classification.item()
        return total, parts


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper, or the model itself."""
    return getattr(model, "module", model)


METHODS: dict[str, type[Method]] = {m.name: m for m in (DAH, DPFAH, ADMTH, DPSH, DSH)}


def register(method: type[Method]) -> type[Method]:
    """Add a method class to the registry (used by the non-deep baselines)."""
    METHODS[method.name] = method
    return method


def method_class(name: str) -> type[Method]:
    """The class registered under ``name``; ValueError with the choices otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def build_method(name: str, bits, profile: str = "quick", **overrides) -> Method:
    """A method with its profile's configuration; ``overrides`` replace any TrainConfig field.

    Args:
        name: a key of METHODS.
        bits: one code length, or several (a multi-length method learns them all in one model).
        profile: "quick" (one run on a 2-core CPU), "cpu" (the reproduction report) or "paper" (the
            paper's settings, for a GPU).
        overrides: TrainConfig fields, e.g. epochs=5, attention=None.
    """
    cls = method_class(name)
    if profile not in cls.profiles:
        raise ValueError(f"unknown profile {profile!r} for {name}; choose one of {sorted(cls.profiles)}")
    bits = (bits,) if isinstance(bits, int) else tuple(bits)
    if not bits or any(not isinstance(b, int) or isinstance(b, bool) or b <= 0 for b in bits):
        raise ValueError(f"bits must be positive integers, got {bits!r}")
    if not cls.multi_length and len(bits) != 1:
        raise ValueError(f"{name} learns one code length per model; build one method per length, got {bits}")
    if cls.multi_length and list(bits) != sorted(set(bits)):
        raise ValueError(f"{name} needs distinct, increasing code lengths, got {bits}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown configuration fields {sorted(unknown)}")
    return cls(TrainConfig(method=name, bits=bits, profile=profile, **{**cls.profiles[profile], **overrides}))


from . import baselines  # noqa: E402, F401  (registers lsh and itq; it imports Method from here)
