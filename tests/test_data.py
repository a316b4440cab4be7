"""The toy data sets' geometry, checked against hand calculations and an SVD."""
import numpy as np
import pytest

from refgan import data

S2 = np.sqrt(2.0)


def test_plane_normal_is_e_z_rotated_by_hand():
    # Rodrigues by hand: k = (1, -1, 0)/sqrt2, k . e_z = 0, k x e_z = (-1, -1, 0)/sqrt2, so
    # R e_z = e_z cos(pi/4) + (k x e_z) sin(pi/4) = (-1/2, -1/2, 1/sqrt2).
    np.testing.assert_allclose(data.plane_normal(), [-0.5, -0.5, 1 / S2], rtol=0, atol=1e-15)


def test_first_centre_by_hand():
    # e_x rotated: k . e_x = 1/sqrt2, k x e_x = (0, 0, 1)/sqrt2, so
    # R e_x = e_x/sqrt2 + (0, 0, 1/2) + k (1/sqrt2)(1 - 1/sqrt2), then + (1, 1, 1)/sqrt3.
    c = 0.5 * (1 - 1 / S2)
    expected = np.array([1 / S2 + c, -c, 0.5]) + 1 / np.sqrt(3.0)
    np.testing.assert_allclose(data.circle_3d().centres[0], expected, rtol=0, atol=1e-15)


def test_circle_centres_lie_on_unit_circle_in_the_rotated_plane():
    d = data.circle_3d()
    assert d.centres.shape == (7, 3) and d.std == 0.01
    rel = d.centres - np.ones(3) / np.sqrt(3.0)
    # radius 1 about the translated origin, to round-off
    np.testing.assert_allclose(np.linalg.norm(rel, axis=1), 1.0, rtol=0, atol=1e-14)
    # in the plane: orthogonal to the hand normal, and the SVD's least direction is that normal
    np.testing.assert_allclose(rel @ [-0.5, -0.5, 1 / S2], 0.0, atol=1e-14)
    normal_svd = np.linalg.svd(rel - rel.mean(0))[2][-1]
    assert abs(abs(normal_svd @ [-0.5, -0.5, 1 / S2]) - 1.0) < 1e-12
    # evenly spaced: neighbouring centres a chord 2 sin(pi/7) apart
    chords = np.linalg.norm(rel - np.roll(rel, -1, axis=0), axis=1)
    np.testing.assert_allclose(chords, 2 * np.sin(np.pi / 7), rtol=0, atol=1e-14)


def test_two_d_toys():
    ring = data.ring_2d()
    np.testing.assert_allclose(np.linalg.norm(ring.centres, axis=1), 2.0, atol=1e-15)
    assert len(ring.centres) == 8
    grid = data.grid_2d()
    assert len(grid.centres) == 25
    assert sorted(set(grid.centres[:, 0].round(12))) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_samples_have_the_stated_spread_and_weights():
    d = data.circle_3d()
    x, k = data.sample(d, 70000, 0)
    offsets = x - d.centres[k]
    # std of 210000 N(0, 0.01^2) draws: relative standard error 0.15%; 1% tolerance
    np.testing.assert_allclose(offsets.std(), 0.01, rtol=0.01)
    # each mode 1/7; standard error sqrt(p(1-p)/n) = 0.0013, tolerance 4 of those
    np.testing.assert_allclose(np.bincount(k) / len(k), 1 / 7, atol=0.0055)


def test_sampling_is_reproducible_from_a_seed():
    d = data.circle_3d()
    a, b, c = data.sample(d, 10, 3)[0], data.sample(d, 10, 3)[0], data.sample(d, 10, 4)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_input():
    with pytest.raises(ValueError, match="dataset: unknown 'moons'"):
        data.get_dataset("moons")
    with pytest.raises(ValueError, match="n: expected a positive integer"):
        data.sample(data.circle_3d(), 0, 0)
