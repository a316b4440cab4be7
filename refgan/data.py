"""Toy data sets: the paper's 7 Gaussians on a circle embedded in R^3, and two 2-D toys.

Paper setting (Roth et al. 2017, official "3DGAN" code): 7 equal-weight Gaussians of std 0.01,
centres evenly spaced on the unit circle of the (x, y) plane, then the plane is rotated by pi/4
about the axis (1, -1, 0)/sqrt(2) and translated by (1, 1, 1)/sqrt(3). The data lie on a 2-D
plane of R^3, so P and a generic Q have disjoint supports.

Each data set is a `ToyData` (centres (K, d), std, the K-mode mixture); samples come from a
seed or a numpy Generator, so a run is reproducible.
"""
from collections import namedtuple

import numpy as onp

from . import checks

ToyData = namedtuple("ToyData", "name centres std")
ToyData.__doc__ = """An equal-weight mixture of K isotropic Gaussians: centres (K, d), std (scalar)."""

CIRCLE_STD = 0.01
ROTATION_ANGLE = onp.pi / 4
ROTATION_AXIS = onp.array([1.0, -1.0, 0.0]) / onp.sqrt(2.0)
TRANSLATION = onp.ones(3) / onp.sqrt(3.0)


def rotation_matrix(axis, angle):
    """Rodrigues: R = I + sin(a) K + (1 - cos(a)) K^2, K the cross-product matrix of the unit
    axis. Acts on column vectors (R @ x); for row batches use x @ R.T."""
    k = onp.asarray(axis, dtype=float) / onp.linalg.norm(axis)
    K = onp.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return onp.eye(3) + onp.sin(angle) * K + (1.0 - onp.cos(angle)) * K @ K


def embed_plane(xy):
    """Map points (n, 2) of the (x, y) plane into R^3: rotate, then translate. Shape (n, 3)."""
    xy = onp.asarray(xy, dtype=float)
    flat = onp.concatenate([xy, onp.zeros((xy.shape[0], 1))], axis=1)
    return flat @ rotation_matrix(ROTATION_AXIS, ROTATION_ANGLE).T + TRANSLATION


def plane_normal():
    """Unit normal (3,) of the data plane: the rotated e_z."""
    return rotation_matrix(ROTATION_AXIS, ROTATION_ANGLE) @ onp.array([0.0, 0.0, 1.0])


def circle_3d(n_modes=7, radius=1.0, std=CIRCLE_STD):
    """The paper's data: n_modes centres at angles 2 pi k / n_modes on a circle, embedded in R^3."""
    n_modes = checks.positive_int("n_modes", n_modes)
    angles = 2.0 * onp.pi * onp.arange(n_modes) / n_modes
    xy = radius * onp.stack([onp.cos(angles), onp.sin(angles)], axis=1)
    return ToyData("circle3d", embed_plane(xy), checks.nonnegative("std", std))


def ring_2d(n_modes=8, radius=2.0, std=0.02):
    """The common 2-D toy: n_modes Gaussians evenly spaced on a ring."""
    n_modes = checks.positive_int("n_modes", n_modes)
    angles = 2.0 * onp.pi * onp.arange(n_modes) / n_modes
    centres = radius * onp.stack([onp.cos(angles), onp.sin(angles)], axis=1)
    return ToyData("ring2d", centres, checks.nonnegative("std", std))


def grid_2d(side=5, spacing=2.0, std=0.05):
    """The common 2-D toy: side x side Gaussians on a square grid centred at 0."""
    side = checks.positive_int("side", side)
    ticks = spacing * (onp.arange(side) - (side - 1) / 2.0)
    gx, gy = onp.meshgrid(ticks, ticks, indexing="ij")
    return ToyData("grid2d", onp.stack([gx.ravel(), gy.ravel()], axis=1),
                   checks.nonnegative("std", std))


DATASETS = {"circle3d": circle_3d, "ring2d": ring_2d, "grid2d": grid_2d}


def get_dataset(name):
    """A data set by name: 'circle3d' (the paper's), 'ring2d', 'grid2d'."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]()


def sample(data, n, rng):
    """n samples (n, d) from the equal-weight mixture, and their mode labels (n,).
    rng: a numpy Generator or an int seed."""
    rng = onp.random.default_rng(rng)
    n = checks.positive_int("n", n)
    k = rng.integers(len(data.centres), size=n)
    return data.centres[k] + data.std * rng.standard_normal((n, data.centres.shape[1])), k
