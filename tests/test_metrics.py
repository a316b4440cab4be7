"""Checkpoint metrics on hand-built sample sets and a linear critic with known gradients."""
import numpy as np
import pytest

from refgan import data, metrics

CIRCLE = data.circle_3d()
N = data.plane_normal()


def points_near(k, count, distance, direction=N):
    """count samples at `distance` from centre k along a unit direction."""
    return np.tile(CIRCLE.centres[k] + distance * direction, (count, 1))


def test_modes_and_quality_on_hand_built_samples():
    std = CIRCLE.std
    x = np.concatenate([
        points_near(0, 30, 2.9 * std),       # inside 3 std: high quality
        points_near(1, 30, 3.1 * std),       # just outside: not high quality
        points_near(2, 39, 0.0),              # at the centre
        points_near(3, 1, 0.0),               # 1 of 200 = 0.5% < 1%: not a covered mode
        points_near(4, 100, 0.3),             # far away
    ])
    q = metrics.sample_quality(x, CIRCLE.centres, std)
    assert q["high_quality"] == pytest.approx((30 + 39 + 1) / 200, abs=1e-15)
    assert q["modes_covered"] == 2  # modes 0 and 2
    np.testing.assert_allclose(q["mode_fractions"], [0.15, 0, 0.195, 0.005, 0, 0, 0], atol=1e-15)


def test_all_seven_modes_covered_by_data_samples():
    x, _ = data.sample(CIRCLE, 2000, 1)
    q = metrics.sample_quality(x, CIRCLE.centres, CIRCLE.std)
    # 3 std in R^3 holds P(chi_3 <= 3) = 97.1% of a Gaussian's mass; 2000 draws: se 0.4%
    assert q["modes_covered"] == 7 and 0.955 < q["high_quality"] < 0.985


def test_plane_distance():
    x = np.concatenate([points_near(0, 5, 0.2), points_near(3, 5, -0.2),
                        points_near(5, 10, 0.0)])
    assert metrics.plane_distance(x, data.TRANSLATION, N) == pytest.approx(0.1, abs=1e-14)
    # moving within the plane changes nothing
    in_plane = np.cross(N, [1.0, 0.0, 0.0])
    assert metrics.plane_distance(x + 0.5 * in_plane, data.TRANSLATION, N) == pytest.approx(
        0.1, abs=1e-14)


def test_critic_metrics_of_a_linear_critic_by_hand():
    a, c = np.array([0.3, -1.2, 0.4]), 0.2
    critic = lambda params, x: x @ a + c  # grad_x v = a everywhere
    rng = np.random.default_rng(0)
    xr, xf = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    vr, vf = xr @ a + c, xf @ a + c
    sig = lambda t: 1 / (1 + np.exp(-t))
    g2 = a @ a
    m = metrics.critic_metrics(critic, None, xr, xf)
    assert m["grad_real"] == pytest.approx(np.sqrt(g2), rel=1e-14)
    assert m["grad_fake"] == pytest.approx(np.sqrt(g2), rel=1e-14)
    assert m["disc_loss"] == pytest.approx(
        np.mean(-np.log(sig(vr))) + np.mean(-np.log(1 - sig(vf))), rel=1e-13)
    assert m["omega_js"] == pytest.approx(
        np.mean((1 - sig(vr)) ** 2) * g2 + np.mean(sig(vf) ** 2) * g2, rel=1e-13)


def test_bad_input():
    with pytest.raises(ValueError, match="x has samples of shape"):
        metrics.sample_quality(np.zeros((4, 2)), CIRCLE.centres, 0.01)
    with pytest.raises(ValueError, match="x: contains 1 NaN"):
        metrics.sample_quality(np.array([[np.nan, 0, 0]]), CIRCLE.centres, 0.01)
