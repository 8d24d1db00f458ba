"""Deep methods: each composes a backbone, attention, a hash head and the paper's loss.

dah, dpfah, admth (the three papers), dpsh and dsh (baselines on the same pipeline); their settings
are the profiles of :mod:`config`, and :func:`registry.build_method` builds any of them by name.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..model import losses
from ..model.backbones import build_backbone
from ..model.heads import HashHead, MultiLengthHead
from ..model.network import HashingModel, MultiLengthHashingModel
from .config import TrainConfig


class Method:
    """A hashing method: what to build, what to minimise, how to binarise. Subclasses fill in the paper."""

    name = ""
    paper = ""
    deep = True
    multi_length = False  # True: one model learns every code length at once (ADMTH)
    paper_bits: tuple[int, ...] = (16, 32, 48, 64)
    departures: dict[str, str] = {}  # name -> what departs from the paper; a config lists those it takes
    loss_weight_names: tuple[str, ...] = ()  # the keys of config.loss_weights, named as in the paper

    def __init__(self, config: TrainConfig):
        unknown = set(config.departures) - set(self.departures)
        if unknown:
            raise ValueError(f"{self.name} has no departures {sorted(unknown)}; choose from {sorted(self.departures)}")
        unknown = set(config.loss_weights) - set(self.loss_weight_names)
        if unknown:
            raise ValueError(f"{self.name} has no loss weights {sorted(unknown)}; "
                             f"choose from {sorted(self.loss_weight_names)}")
        if config.pairs not in ("batch", "memory"):
            raise ValueError(f"unknown pairs {config.pairs!r}; choose 'batch' or 'memory'")
        self.config = config

    def build_model(self, num_classes: int) -> nn.Module:
        raise NotImplementedError

    def loss(self, model: nn.Module, codes: Tensor, logits: Tensor | None, labels: Tensor,
             memory: losses.CodeMemory | None = None) -> tuple[Tensor, dict]:
        """The paper's objective on one batch; returns the total and its named parts (floats, for logs).

        Args:
            model: the network (not a DDP wrapper); ADMTH's objective reads its learned Q_k.
            codes: relaxed codes u, (B, sum K).
            logits: class scores (B, C), or None without a classifier branch.
            labels: (B,) class indices or (B, C) multi-hot.
            memory: every training image's code, when the config's ``pairs`` is "memory".
        """
        raise NotImplementedError

    def codes_by_length(self, codes: Tensor) -> dict[int, Tensor]:
        """Relaxed codes per code length, {K: (B, K)}: a multi-length model's output cut at each length."""
        return dict(zip(self.config.bits, torch.split(codes, self.config.bits, dim=1)))

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
    class branch carries the features) and the recipe of :data:`config.CPU_RECIPE`; the cpu profile
    also trains on all 5,000 ``cifar10`` images and encodes with ``test_flip`` (:data:`config.CIFAR10_CPU`).
    The ``class_from_codes`` departure moves the class branch onto the relaxed codes, logits = W u + b
    (DAH's design), so that the codes themselves must separate the classes; the report's ``dpfah-wide``
    row takes it (recipe row XD measures it alone).
    """

    name, paper = "dpfah", "Yang, Wang, Cheng, Sci. Rep. 2022"
    loss_weight_names = ("eta", "zeta")
    departures = {"class_from_codes": "the class branch reads the relaxed codes instead of the features "
                                      "(a softmax layer on the hash layer, as DAH's)"}

    def build_model(self, num_classes: int) -> nn.Module:
        backbone = self._backbone()
        head = HashHead(backbone.out_features, self.config.bits[0], activation="linear")
        source = "codes" if "class_from_codes" in self.config.departures else "features"
        return HashingModel(backbone, head, num_classes, classify_from=source)

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

    From random weights this likelihood alone can shrink the codes towards u = 0, where it is ln 2 for
    every pair and its gradient (proportional to the codes) vanishes (the paper fine-tunes ImageNet
    weights, which start far from that saddle): on a small synthetic folder the quick profile is near
    chance after 30 epochs (recipe row LA) and only 0.16 above it after its 70 (row LM). The ``normalized_codes`` departure standardises the hash layer's outputs
    over the batch (:class:`~model.heads.HashHead` with ``normalize=True``), so no bit can shrink: it
    lifts that folder (rows LF, LH) but lowers CIFAR-10 at 32 bits (rows LK, LL), so it is selectable
    (``--set departures=normalized_codes``), not a profile's default. The ``balanced_pairs`` departure
    weighs the similar and the dissimilar pairs equally (:func:`~model.losses.dpsh_likelihood`): one seed
    each, it lifts the folder from 0.19 to 0.33 at 30 epochs and from 0.33 to 0.49 at 70 (rows LN, LO),
    and CIFAR-10's quick protocol at 32 bits from 0.31 to 0.49 (row LP); selectable, not yet a default.
    """

    name, paper = "dpsh", "Li, Wang, Kang, IJCAI 2016 (baseline)"
    loss_weight_names = ("eta",)
    departures = {"normalized_codes": "the hash layer's outputs are standardised over the batch "
                                      "(model.heads.HashHead normalize=True)",
                  "balanced_pairs": "similar and dissimilar pairs weigh equally in the likelihood "
                                    "(losses.dpsh_likelihood balanced=True, HashNet's weighting)"}

    def build_model(self, num_classes: int) -> nn.Module:
        backbone = self._backbone()
        normalize = "normalized_codes" in self.config.departures
        return HashingModel(backbone, HashHead(backbone.out_features, self.config.bits[0], "linear", normalize))

    def loss(self, model, codes, logits, labels, memory=None):
        likelihood = losses.pairwise_likelihood(codes, labels, memory, "balanced_pairs" in self.config.departures)
        quantization = losses.sign_quantization(codes)
        total = likelihood + self.config.loss_weights["eta"] * quantization
        return total, {"likelihood": likelihood.item(), "quant": quantization.item()}


class DSH(Method):
    r"""DSH (Liu et al., CVPR 2016) on the same backbone: contrastive loss with margin 2K + alpha |.|-regulariser."""

    name, paper = "dsh", "Liu, Wang, Shan, Chen, CVPR 2016 (baseline)"
    loss_weight_names = ("alpha",)

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
    learns slowly at the paper's weight), the recipe of :data:`config.CPU_RECIPE`, and the network:
    DPFAH's CPU network (ResNet-18 at 1/4 width, CIFAR stem) instead of the paper's depthwise-separable
    ResNet-30, which learned less per epoch and ran slower per epoch here (measured in REPRODUCTION.md),
    with CBAM in every block; ``placement="stages"`` puts it where the paper's Table 1 does (after
    the stem and every stage but the last), but compiled in bfloat16 it gives NaN gradients here.
    ``--set backbone=dah_resnet30`` trains the paper's network.
    """

    name, paper = "dah", "Li et al., IEEE Access 2020"
    paper_bits = (12, 24, 36, 48)
    loss_weight_names = ("class",)
    departures = {"one_sided_dissimilar": "dissimilar pairs: max(0, t + sum log(1 - |d|)) instead of "
                                          "|t + sum log(1 - |d|)|, so pairs beyond t are not pulled back"}

    def build_model(self, num_classes: int) -> nn.Module:
        backbone = self._backbone()
        head = HashHead(backbone.out_features, self.config.bits[0], activation="shrink_sigmoid")
        return HashingModel(backbone, head, num_classes, classify_from="codes")

    def loss(self, model, codes, logits, labels, memory=None):
        one_sided = "one_sided_dissimilar" in self.config.departures
        pair = losses.dah_pair_loss(codes, losses.similarity_matrix(labels), one_sided=one_sided)
        balance = losses.dah_bit_balance(codes)
        classification = losses.class_loss(logits, labels, self.config.label_smoothing)
        total = pair + balance + self.config.loss_weights["class"] * classification
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

    alpha = 20, beta = 1; the Q_k are learned with the network (:class:`~model.network.MultiLengthHashingModel`).
    The L1 term's gradient does not shrink with the codes, so on the per-sample mean it would dominate;
    hence beta / B.

    From random weights (no ImageNet weights offline) this hash-only objective collapses on the
    AlexNet trunk: tanh codes of uncentred post-ReLU features shrink towards 0 within a few steps,
    most ReLUs die, and the likelihood sits at the saddle K ln 2 where its gradient (proportional to
    the codes) vanishes. The paper avoids it by fine-tuning a pretrained CNN-F. The CPU profiles depart
    from the paper in two named ways: the trunk is a BatchNorm network (ResNet-18 at 1/4 width with SE
    in every block), and ``class_loss``: a softmax classifier on the trunk's features, weighted by
    gamma, gives the random trunk features to hash. REPRODUCTION.md measures what each buys. As
    DPFAH's, the cpu profile trains on all 5,000 ``cifar10`` images and encodes with ``test_flip``.
    """

    name, paper = "admth", "Wang et al., Electronics 2023"
    multi_length = True
    loss_weight_names = ("alpha", "beta", "gamma")
    departures = {"class_loss": "a softmax classifier on the shared trunk's features, weight gamma "
                                "(loss_weights['gamma']), so a random trunk learns features before the codes",
                  "normalized_codes": "each branch's hash layer is standardised over the batch before tanh "
                                      "(model.heads.MultiLengthHead normalize=True), so the codes cannot shrink to 0"}

    def build_model(self, num_classes: int) -> nn.Module:
        cfg = self.config
        if cfg.branches is None:
            raise ValueError("admth needs its branches' settings: set branches (hidden, split_at)")
        backbone = self._backbone()
        head = MultiLengthHead(backbone.out_features, cfg.bits, cfg.branches.hidden, cfg.branches.split_at,
                               normalize="normalized_codes" in cfg.departures)
        return MultiLengthHashingModel(backbone, head, num_classes if "class_loss" in cfg.departures else None)

    def loss(self, model, codes, logits, labels, memory=None):
        w = self.config.loss_weights
        per_length = list(self.codes_by_length(codes).values())
        likelihood = sum(losses.pairwise_likelihood(u, labels, memory) for u in per_length)
        consistency = losses.admth_consistency(per_length, list(model.projections))
        total = w["alpha"] * likelihood + w["beta"] / codes.shape[0] * consistency  # beta / B, see the docstring
        parts = {"likelihood": likelihood.item(), "consistency": consistency.item()}
        if logits is not None:  # the class_loss departure
            classification = losses.class_loss(logits, labels, self.config.label_smoothing)
            total = total + w["gamma"] * classification
            parts["class"] = classification.item()
        return total, parts

