"""The objectives of DPSH, DSH, DAH, DPFAH and ADMTH, each a small function on a batch.

Conventions: u are relaxed codes (B, K); labels are class indices (B,) or multi-hot (B, C); s_ij = 1
when images i and j share a label. Pair terms are means over pairs (not sums), so the papers'
weights (alpha, eta, zeta, beta) do not change meaning with the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def similarity_matrix(labels: Tensor, other: Tensor | None = None) -> Tensor:
    r"""s_ij = 1 if items i and j share at least one label, else 0.

    Args:
        labels: class indices (B,) or multi-hot (B, C).
        other: labels of a second set (B2,) or (B2, C); defaults to ``labels``.
    Returns:
        float tensor (B, B2) of zeros and ones.
    """
    other = labels if other is None else other
    if labels.dim() != other.dim():
        raise ValueError(f"labels of shapes {tuple(labels.shape)} and {tuple(other.shape)} mix class indices and multi-hot")
    if labels.dim() == 1:
        return (labels[:, None] == other[None, :]).float()
    if labels.dim() == 2:
        return (labels.float() @ other.float().T > 0).float()
    raise ValueError(f"labels must be class indices (B,) or multi-hot (B, C), got shape {tuple(labels.shape)}")


def dpsh_likelihood(u: Tensor, similarity: Tensor, others: Tensor | None = None, balanced: bool = False) -> Tensor:
    r"""Negative log-likelihood of pairwise labels (DPSH; DPFAH Eq. 12, ADMTH Eq. 7).

        theta_ij = u_i . u_j / 2
        L = mean_ij [ log(1 + exp(theta_ij)) - s_ij theta_ij ]

    j runs over the batch (``others`` None: B x B pairs) or over ``others``, e.g. the codes of every
    training image held in a :class:`CodeMemory` (B x N pairs, as DPSH's reference code does).
    Differences from the papers: a mean over the pairs instead of a sum, and log(1 + e^x) computed as
    softplus, which stays finite for large theta.

    ``balanced`` (not in DPSH; HashNet's weighted likelihood, Cao et al., ICCV 2017) averages the similar
    and the dissimilar pairs apart and weighs the two means equally,

        L = ( mean_{s_ij = 1} l_ij + mean_{s_ij = 0} l_ij ) / 2     (one kind present: its mean)

    With 10 classes 90% of the pairs are dissimilar; their push apart, which no set of codes can meet
    for every pair at once, then outweighs the similar pairs' pull and, from random weights, shrinks
    the codes towards u = 0, where every l_ij = ln 2.

    Args:
        u: relaxed codes (B, K).
        similarity: s_ij in {0, 1}, (B, B) or (B, N).
        others: codes u_j (N, K) to pair with, or None for the batch itself.
        balanced: weigh the similar and the dissimilar pairs equally.
    """
    theta = 0.5 * u @ (u if others is None else others).T  # theta_ij: (B, B) or (B, N)
    terms = F.softplus(theta) - similarity * theta
    if not balanced:
        return terms.mean()
    n_similar, n_dissimilar = similarity.sum(), (1 - similarity).sum()
    similar = (terms * similarity).sum() / n_similar.clamp_min(1)
    dissimilar = (terms * (1 - similarity)).sum() / n_dissimilar.clamp_min(1)
    return (similar + dissimilar) / ((n_similar > 0).to(terms.dtype) + (n_dissimilar > 0).to(terms.dtype))


class CodeMemory:
    r"""The relaxed code of every training image, U (N, K) per code length, and their labels Y.

    DPSH's reference implementation keeps U and, at every step, writes the batch's new codes into
    their rows and computes the likelihood of the batch against all of U: B x N pairs instead of
    B x B, so each step sees every class many times. Rows not yet visited are 0 (theta = 0: no pull).

    Args:
        labels: (N,) class indices or (N, C) multi-hot of the training images.
        widths: the code lengths K to keep a U for.
        device: where U lives.
    """

    def __init__(self, labels, widths, device=None):
        self.labels = torch.as_tensor(labels, device=device)
        self.codes = {k: torch.zeros(len(self.labels), k, device=device) for k in widths}

    def update(self, indices: Tensor, codes: dict[int, Tensor]) -> None:
        """U[indices] = the batch's codes (detached), for every length."""
        for k, u in codes.items():
            self.codes[k][indices] = u.detach().to(self.codes[k].dtype)

    def similarity(self, labels: Tensor) -> Tensor:
        """s_ij between a batch's labels (B,) or (B, C) and every training image, (B, N)."""
        return similarity_matrix(labels, self.labels)

    def state_dict(self) -> dict:
        return {str(k): u for k, u in self.codes.items()}

    def load_state_dict(self, state: dict) -> None:
        for k in self.codes:
            self.codes[k].copy_(state[str(k)])


def pairwise_likelihood(u: Tensor, labels: Tensor, memory: CodeMemory | None = None, balanced: bool = False) -> Tensor:
    """:func:`dpsh_likelihood` of a batch against itself, or against the memory's codes of its length."""
    if memory is None:
        return dpsh_likelihood(u, similarity_matrix(labels), balanced=balanced)
    return dpsh_likelihood(u, memory.similarity(labels), memory.codes[u.shape[1]], balanced)


def sign_quantization(u: Tensor) -> Tensor:
    r"""DPSH's quantisation loss, mean_ik (b_ik - u_ik)^2 with b = sign(u) (no gradient through b).

    A mean over the B K entries, as in the field's reference code, so its weight does not grow with K.
    """
    return (torch.sign(u).detach() - u).pow(2).mean()


def dpfah_quantization(u: Tensor, low: float = 1.0, high: float = 1.1) -> Tensor:
    r"""DPFAH's quantisation term (its Eq. 13), in the interpretation this project chose.

        L_q = mean_ik [ relu(low - |u_ik|) + relu(|u_ik| - high) ]     low = 1, high = 1.1

    The paper says only that the term is built with ReLU and that the codes are relaxed to
    [-1.1, 1.1]; it omits the equation. We read it as a band penalty: zero when every |u_ik| lies in
    [1, 1.1] (the code is already binary up to the relaxation), linear outside it. The first ReLU
    pulls u away from 0 towards +-1 (what a quantisation loss is for); the second stops |u| growing
    past 1.1, which a linear hash layer (no tanh) would otherwise do to satisfy the likelihood.
    A mean over the B K entries (not a sum over bits), so eta = 10 weighs the same at every K.

    Args:
        u: relaxed codes from a linear hash layer (B, K).
    """
    magnitude = u.abs()
    return (F.relu(low - magnitude) + F.relu(magnitude - high)).mean()


def class_loss(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    r"""Cross-entropy for class indices (B,); binary cross-entropy with logits for multi-hot (B, C).

    Label smoothing eps replaces a one-hot target y by (1 - eps) y + eps / C (single-label only;
    multi-hot targets are used as they are).
    """
    if labels.dim() == 1:
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    return F.binary_cross_entropy_with_logits(logits, labels.float())


def _off_diagonal_mean(matrix: Tensor) -> Tensor:
    """Mean over the B (B - 1) ordered pairs i != j of a (B, B) matrix."""
    b = matrix.shape[0]
    if b < 2:
        raise ValueError("a pair loss needs a batch of at least 2 items")
    off = ~torch.eye(b, dtype=torch.bool, device=matrix.device)
    return matrix[off].mean()


def dah_pair_loss(x: Tensor, similarity: Tensor, threshold: float | None = None, one_sided: bool = False) -> Tensor:
    r"""DAH's pair loss, averaged over the ordered pairs i != j of the batch (DAH Eqs. 6-8).

        similar (s_ij = 1):     || x_i - x_j ||^2
        dissimilar (s_ij = 0):  | t + sum_k log(1 - |x_ik - x_jk|) |,   t = K / 4.8          (the paper)
                  one-sided:    max(0, t + sum_k log(1 - |x_ik - x_jk|))                    (a departure)

    With x in (1/4, 3/4), |x_ik - x_jk| < 1/2, so the logarithm is finite. The paper's dissimilar
    term is zero only when the mean of -log(1 - |x_ik - x_jk|) over the bits is exactly 1/4.8: it
    also pulls back dissimilar pairs that are farther apart than that, which slows early training
    from random weights. The one-sided hinge only pushes dissimilar pairs apart until they reach it.

    Args:
        x: shrink-sigmoid outputs (B, K).
        similarity: s_ij in {0, 1}, (B, B).
        threshold: t; K / 4.8 by default.
        one_sided: the hinge instead of the paper's absolute value.
    """
    t = x.shape[1] / 4.8 if threshold is None else threshold
    diff = (x[:, None, :] - x[None, :, :]).abs()  # |x_ik - x_jk|: (B, B, K)
    similar = diff.pow(2).sum(dim=2)  # ||x_i - x_j||^2
    gap = t + torch.log1p(-diff).sum(dim=2)  # t + sum_k log(1 - |x_ik - x_jk|)
    dissimilar = F.relu(gap) if one_sided else gap.abs()
    return _off_diagonal_mean(similarity * similar + (1 - similarity) * dissimilar)


def dah_bit_balance(x: Tensor) -> Tensor:
    r"""DAH's bit-balance term, averaged over the ordered pairs i != j (DAH Eq. 9).

        L_b(i, j) = ( sum_k (x_ik - 1/2) + sum_k (x_jk - 1/2) )^2

    It is zero when, across the pair, the bits sit as far above 1/2 as below: half ones, half zeros.

    Args:
        x: shrink-sigmoid outputs (B, K).
    """
    c = (x - 0.5).sum(dim=1)  # c_i = sum_k (x_ik - 1/2): (B,)
    return _off_diagonal_mean((c[:, None] + c[None, :]).pow(2))


def dsh_loss(u: Tensor, similarity: Tensor, margin: float | None = None, alpha: float = 0.01) -> Tensor:
    r"""DSH's contrastive loss with a regulariser towards +-1 (Liu et al., CVPR 2016, Eq. 4).

        L = mean_{i != j} [ s_ij/2 ||u_i - u_j||^2 + (1 - s_ij)/2 max(m - ||u_i - u_j||^2, 0) ]
            + alpha mean_i sum_k | |u_ik| - 1 |,                 m = 2K

    The regulariser uses abs(), not sign(): the sign() version, a bug reported against widely used
    reference code, has zero gradient.

    Args:
        u: real-valued outputs (B, K).
        similarity: s_ij in {0, 1}, (B, B).
        margin: m; 2K by default.
        alpha: weight of the regulariser.
    """
    m = 2.0 * u.shape[1] if margin is None else margin
    distance = torch.cdist(u, u).pow(2)  # ||u_i - u_j||^2: (B, B)
    pair = 0.5 * similarity * distance + 0.5 * (1 - similarity) * F.relu(m - distance)
    regulariser = (u.abs() - 1).abs().sum(dim=1).mean()
    return _off_diagonal_mean(pair) + alpha * regulariser


def admth_consistency(codes: Sequence[Tensor], projections: Sequence[Tensor]) -> Tensor:
    r"""ADMTH's consistency loss between neighbouring code lengths (ADMTH Eqs. 8-9).

        L_c = sum_{k=1}^{K-1} mean_i || Q_k h_i^{(k+1)} - h_i^{(k)} ||_1

    i.e. H_{k+1} Q_k^T - H_k with samples as rows, Q_k of shape (L_k, L_{k+1}), learned. Differences
    from the paper (see its Eqs. 8-9): the L1 norm of Eq. 9 (Eq. 8 writes L2), k up to K-1 (H_{K+1}
    does not exist), samples as rows (the only layout in which H_{k+1} Q_k^T type-checks), and a mean
    over samples instead of a sum.

    Args:
        codes: relaxed codes per length, shortest first: [(B, L_1), (B, L_2), ...].
        projections: [Q_1, ..., Q_{K-1}], Q_k of shape (L_k, L_{k+1}).
    """
    if len(projections) != len(codes) - 1:
        raise ValueError(f"{len(codes)} code lengths need {len(codes) - 1} projections, got {len(projections)}")
    total = codes[0].new_zeros(())
    for shorter, longer, q in zip(codes[:-1], codes[1:], projections):
        if q.shape != (shorter.shape[1], longer.shape[1]):
            raise ValueError(f"Q must be ({shorter.shape[1]}, {longer.shape[1]}), got {tuple(q.shape)}")
        total = total + (longer @ q.T - shorter).abs().sum(dim=1).mean()  # H_{k+1} Q_k^T - H_k
    return total
