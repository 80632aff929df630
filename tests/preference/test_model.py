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
