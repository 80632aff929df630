import pytest

pytest.importorskip("pymoo")

import io  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
from pymoo.util.ref_dirs import get_reference_directions  # noqa: E402

from ll4al.preference.decision_maker import (  # noqa: E402
    ChebyshevDM,
    DMStopped,
    HumanDM,
    default_weights,
)
from ll4al.preference.experiment import make_problem  # noqa: E402


@pytest.mark.parametrize("n_obj", [3, 5])
def test_golden_point_on_dtlz2_equalises_weighted_objectives(n_obj):
    w = default_weights(n_obj)
    dm = ChebyshevDM(w)
    problem = make_problem("dtlz2", n_obj)
    g = dm.golden_point(problem)
    assert np.linalg.norm(g) == pytest.approx(1.0)  # on the unit sphere front
    np.testing.assert_allclose(w * g, np.full(n_obj, (w * g)[0]))  # all w_i f_i equal
    # and no point of a dense sample of pymoo's front is better
    front = problem.pareto_front(get_reference_directions("das-dennis", n_obj, n_partitions=12))
    assert dm.value(g) <= dm.value(front).min() + 1e-12


def test_golden_point_matches_the_best_point_of_a_dense_front():
    dm = ChebyshevDM([0.2, 0.5, 0.3])
    problem = make_problem("dtlz2", 3)
    front = problem.pareto_front(get_reference_directions("das-dennis", 3, n_partitions=60))
    best = front[np.argmin(dm.value(front))]
    golden = dm.golden_point(problem)
    assert 0 <= dm.value(best) - dm.value(golden) < 0.01
    assert np.linalg.norm(best - golden) < 0.06  # the grid spacing


def test_golden_point_on_dtlz1_lies_on_the_simplex_front():
    w = np.array([0.5, 0.3, 0.2])
    g = ChebyshevDM(w).golden_point(make_problem("dtlz1", 3))
    assert g.sum() == pytest.approx(0.5)
    np.testing.assert_allclose(w * g, np.full(3, (w * g)[0]))


def test_golden_point_on_zdt1_uses_the_sampled_front():
    dm = ChebyshevDM([0.5, 0.5])
    g = dm.golden_point(make_problem("zdt1", 2))
    # ZDT1 front f2 = 1 - sqrt(f1); equal weights: f1 = f2 = (3 - sqrt(5)) / 2
    assert g == pytest.approx([(3 - 5**0.5) / 2] * 2, abs=1e-3)


def test_noiseless_dm_prefers_the_lower_chebyshev_value():
    dm = ChebyshevDM([0.5, 0.5])
    assert dm.prefers_first(np.array([0.2, 0.3]), np.array([0.1, 0.9]))
    assert not dm.prefers_first(np.array([0.1, 0.9]), np.array([0.2, 0.3]))
    assert dm.n_queries == 2


def test_noisy_dm_flips_with_the_stated_probability():
    dm = ChebyshevDM([1.0, 1.0], kappa=5.0, seed=1)
    a, b = np.array([0.1, 0.1]), np.array([0.2, 0.2])  # |v(a) - v(b)| = 0.1
    flips = np.mean([not dm.prefers_first(a, b) for _ in range(4000)])
    assert flips == pytest.approx(np.exp(-0.5), abs=0.03)


def test_invalid_dm_settings_are_rejected():
    with pytest.raises(ValueError):
        ChebyshevDM([0.5, -0.5])
    with pytest.raises(ValueError):
        ChebyshevDM([0.5, 0.5], ideal=[0.0])
    with pytest.raises(ValueError):
        ChebyshevDM([0.5, 0.5], kappa=0.0)


def test_human_dm_validates_input_and_persists_answers(tmp_path):
    path = tmp_path / "answers.json"
    out = io.StringIO()
    dm = HumanDM(path, stdin=io.StringIO("x\n3\n2\n"), stdout=out)
    a, b = np.array([0.1, 0.9]), np.array([0.5, 0.5])
    assert dm.prefers_first(a, b) is False
    assert out.getvalue().count("invalid answer") == 2
    assert json.loads(path.read_text())[0]["preferred"] == 2
    # a new session answers the same pair from the file and asks nothing
    resumed = HumanDM(path, stdin=io.StringIO(""), stdout=io.StringIO())
    assert resumed.prefers_first(a, b) is False
    assert resumed.n_asked == 0


def test_human_dm_can_stop(tmp_path):
    dm = HumanDM(tmp_path / "a.json", stdin=io.StringIO("q\n"), stdout=io.StringIO())
    with pytest.raises(DMStopped):
        dm.prefers_first(np.array([0.1, 0.2]), np.array([0.2, 0.1]))
    assert not (tmp_path / "a.json").exists()


def test_flipping_dm_flips_the_stated_fraction_whatever_the_gap():
    dm = ChebyshevDM([1.0, 1.0], seed=3, flip=0.1)
    a, b = np.array([0.1, 0.1]), np.array([5.0, 5.0])  # a is far better
    wrong = np.mean([not dm.prefers_first(a, b) for _ in range(5000)])
    assert wrong == pytest.approx(0.1, abs=0.015)
    assert dm.n_flipped == pytest.approx(5000 * wrong)
    clean = ChebyshevDM([1.0, 1.0], seed=3, flip=0.0)
    assert all(clean.prefers_first(a, b) for _ in range(200))
    for bad in (-0.1, 0.6):
        with pytest.raises(ValueError, match="flip"):
            ChebyshevDM([1.0, 1.0], flip=bad)
