import pytest

pytest.importorskip("pymoo")

import numpy as np  # noqa: E402

from ll4al.preference.model import ObjectiveNormalizer, PreferenceModel  # noqa: E402


def _linear_pairs(rng, n, w):
    a, b = rng.random((n, len(w))), rng.random((n, len(w)))
    return a, b, a @ w < b @ w  # lower weighted sum is preferred


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_ranknet_learns_a_linear_preference(loss):
    rng = np.random.default_rng(0)
    w = np.array([0.2, 0.5, 0.3])
    model = PreferenceModel(n_obj=3, loss=loss, epochs=300, seed=0)
    for a, b, pref in zip(*_linear_pairs(rng, 150, w), strict=True):
        model.add_pair(a, b, pref)
    model.fit()
    a, b, pref = _linear_pairs(rng, 1000, w)
    accuracy = np.mean((model.score(a) > model.score(b)) == pref)
    assert accuracy > 0.9


def test_normalizer_maps_bounds_to_unit_box():
    F = np.array([[1.0, 200.0], [3.0, 100.0], [2.0, 150.0]])
    norm = ObjectiveNormalizer.fit(F)
    Z = norm.transform(F)
    np.testing.assert_allclose(Z.min(axis=0), [0.0, 0.0])
    np.testing.assert_allclose(Z.max(axis=0), [1.0, 1.0])


def test_normalizer_uses_running_ideal_and_front_nadir():
    F = np.array([[1.0, 3.0], [3.0, 1.0], [10.0, 10.0]])  # the last row is dominated
    norm = ObjectiveNormalizer.fit(F, ideal=np.array([0.0, 2.0]))
    np.testing.assert_allclose(norm.lower, [0.0, 1.0])  # min of ideal and population
    np.testing.assert_allclose(norm.upper, [3.0, 3.0])  # worst over the non-dominated front
    np.testing.assert_allclose(norm.transform(F[:2]), [[1 / 3, 1.0], [1.0, 0.0]])


def test_scoring_before_training_is_an_error():
    model = PreferenceModel(n_obj=2)
    assert not model.is_trained
    with pytest.raises(RuntimeError):
        model.score(np.zeros((1, 2)))
    with pytest.raises(ValueError):
        model.fit()


def test_a_dominance_resistant_point_does_not_set_the_nadir():
    # a simplex front (DTLZ1-like) plus (150, 0, 0): non-dominated, but far from the front
    rng = np.random.default_rng(0)
    front = rng.dirichlet(np.ones(3), size=40) * 0.5
    F = np.vstack([front, [150.0, 0.0, 0.0]])
    assert ObjectiveNormalizer.fit(F, quantile=1.0).upper[0] == pytest.approx(150.0)
    norm = ObjectiveNormalizer.fit(F, quantile=0.9)
    assert norm.upper[0] < 0.5  # the front's own scale, not the outlier's
    Z = norm.transform(F)
    # the front keeps resolution along f1 and the outlier stays ordered beyond it, but bounded
    assert np.ptp(Z[:-1, 0]) > 0.9
    assert Z[:-1, 0].max() < Z[-1, 0] < 10.0


def test_an_objective_constant_over_the_front_keeps_a_least_span():
    # DTLZ4 after losing a region: f2 is 0 on the whole front
    F = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8], [1.0, 0.0, 0.0]])
    blown = ObjectiveNormalizer.fit(F, quantile=1.0).transform([[0.5, 0.01, 0.5]])
    assert blown[0, 1] > 10  # divided by ~0: a new f2 > 0 lands far outside
    norm = ObjectiveNormalizer.fit(F, quantile=1.0, min_span=0.05)
    assert norm.upper[1] - norm.lower[1] == pytest.approx(0.05)
    assert norm.transform([[0.5, 0.01, 0.5]])[0, 1] == pytest.approx(0.2)


def test_transform_is_linear_up_to_the_nadir_and_monotone_beyond():
    norm = ObjectiveNormalizer(lower=np.zeros(1), upper=np.ones(1))
    f = np.linspace(-0.5, 50.0, 200)[:, None]
    z = norm.transform(f)[:, 0]
    inside = f[:, 0] <= 1
    np.testing.assert_allclose(z[inside], f[inside, 0])
    assert np.all(np.diff(z) > 0)
    assert z[-1] == pytest.approx(1 + np.log(50.0))
