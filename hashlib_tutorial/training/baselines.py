"""Non-deep baselines: LSH and ITQ on fixed features (pixels, or a trained network's features).

Both learn from the training features only and have no backbone to train; ``train`` feeds them
features and evaluates their codes exactly like a deep method's.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from .methods import Method


class FeatureHashing(Method):
    """A hashing method on fixed feature vectors: ``fit(train_features)`` then ``encode(features)``."""

    deep = False

    def fit(self, features: np.ndarray) -> "FeatureHashing":
        raise NotImplementedError

    def encode(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    samples_per_bit = False  # ITQ: its PCA keeps K directions, so it needs at least K training images

    def check_training_set(self, n_train: int) -> None:
        """Refuse a training split too small for ``bits`` bits; cheap, so ``train`` may call it before writing."""
        bits = self.config.bits[0]
        if self.samples_per_bit and n_train < bits:
            raise ValueError(f"{self.name} at {bits} bits needs at least {bits} training images (its PCA keeps {bits} "
                             f"directions), and the training split has {n_train}: use --bits {n_train} "
                             "or fewer, or more training images")

    def _check_dimensions(self, features: np.ndarray) -> None:
        bits = self.config.bits[0]
        if features.ndim != 2 or features.shape[1] < bits:
            raise ValueError(f"{self.name} needs features (n, D) with D >= bits = {bits}, got {features.shape}")
        self.check_training_set(len(features))


class LSH(FeatureHashing):
    r"""Sign random projections (Charikar 2002): b = sign(W^T (x - mean)), W ~ N(0, I), seeded."""

    name, paper = "lsh", "Charikar, STOC 2002 (baseline)"

    def fit(self, features):
        self._check_dimensions(features)
        rng = np.random.default_rng(self.config.seed)
        self.mean = features.mean(axis=0)
        self.projection = rng.standard_normal((features.shape[1], self.config.bits[0]))
        return self

    def encode(self, features):
        return np.where((features - self.mean) @ self.projection >= 0, 1, -1).astype(np.int8)


class ITQ(FeatureHashing):
    r"""Iterative quantisation (Gong and Lazebnik, CVPR 2011): PCA to K dimensions, then a rotation R.

        V = (X - mean) P_K                      PCA projection, (n, K)
        repeat: B = sign(V R);  U S W^T = svd(V^T B);  R = U W^T        (orthogonal Procrustes)
        minimises the quantisation loss || B - V R ||_F^2
    """

    name, paper = "itq", "Gong and Lazebnik, CVPR 2011 (baseline)"
    iterations, samples_per_bit = 50, True

    def fit(self, features):
        self._check_dimensions(features)
        bits, rng = self.config.bits[0], np.random.default_rng(self.config.seed)
        self.mean = features.mean(axis=0)
        centred = features - self.mean
        # principal directions P_K: the top-K right singular vectors of the centred data (randomised
        # SVD: a full SVD of 4,500 x 3,072 pixels takes tens of seconds on 2 cores)
        pca = PCA(n_components=bits, svd_solver="randomized", random_state=self.config.seed).fit(centred)
        self.pca = pca.components_.T  # P_K: (D, K)
        v = centred @ self.pca  # V: (n, K)
        rotation, _ = np.linalg.qr(rng.standard_normal((bits, bits)))  # a random orthogonal start
        for _ in range(self.iterations):
            b = np.where(v @ rotation >= 0, 1.0, -1.0)
            u, _, wt = np.linalg.svd(v.T @ b)
            rotation = u @ wt
        self.rotation = rotation
        return self

    def quantization_loss(self, features: np.ndarray) -> float:
        """|| B - V R ||_F^2 / n on ``features``: what the iterations minimise."""
        vr = (features - self.mean) @ self.pca @ self.rotation
        return float(np.mean(np.sum((np.where(vr >= 0, 1.0, -1.0) - vr) ** 2, axis=1)))

    def encode(self, features):
        return np.where((features - self.mean) @ self.pca @ self.rotation >= 0, 1, -1).astype(np.int8)
