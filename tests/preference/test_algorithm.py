import pytest

pytest.importorskip("pymoo")

import numpy as np  # noqa: E402

from ll4al.preference.algorithm import choose_pairs, run_ltr_nsga2  # noqa: E402
from ll4al.preference.baselines import run_nsga2  # noqa: E402
from ll4al.preference.decision_maker import ChebyshevDM, default_weights  # noqa: E402
from ll4al.preference.errors import PreferenceError  # noqa: E402
from ll4al.preference.experiment import distances, make_problem  # noqa: E402
from ll4al.preference.model import PreferenceModel  # noqa: E402


def test_choose_pairs_takes_distinct_non_dominated_solutions():
    F = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [2.0, 2.0], [0.5, 0.5]])
    pairs = choose_pairs(F, 6, np.random.default_rng(0))
    assert len(pairs) == 3  # three distinct non-dominated rows: only three pairs exist
    assert len({frozenset(p) for p in pairs}) == 3  # none asked twice
    for i, j in pairs:
        assert i != j and not np.array_equal(F[i], F[j])
        assert 3 not in (i, j)  # dominated


def test_ltr_beats_plain_nsga2_towards_the_golden_point():
    problem = make_problem("dtlz2", 3)
    ltr_eps, nsga_eps = [], []
    for seed in range(3):
        dm = ChebyshevDM(default_weights(3), seed=seed)
        golden = dm.golden_point(problem)
        ltr = run_ltr_nsga2(problem, dm, pop_size=40, n_gen=60, tau=10, mu=10, seed=seed)
        base = run_nsga2(problem, pop_size=40, n_gen=60, seed=seed)
        assert ltr.n_evals == base.n_evals == 40 * 60
        assert ltr.dm_queries == dm.n_queries == 10 * 5  # after generations 10, 20, .., 50
        ltr_eps.append(distances(ltr.F, golden)[0])
        nsga_eps.append(distances(base.F, golden)[0])
    assert np.mean(ltr_eps) < np.mean(nsga_eps)


def test_query_cap_and_convergence_stop_consulting():
    problem = make_problem("dtlz2", 3)
    dm = ChebyshevDM(default_weights(3))
    capped = run_ltr_nsga2(problem, dm, pop_size=20, n_gen=60, mu=4, max_queries=9, seed=0)
    assert capped.dm_queries == 8 and capped.consultations == 2
    converged = run_ltr_nsga2(
        problem,
        ChebyshevDM(default_weights(3)),
        pop_size=20,
        n_gen=60,
        mu=4,
        seed=0,
        convergence_tol=10.0,
    )
    assert converged.consultations == 2  # the second consultation always "converges"
    assert isinstance(converged.model, PreferenceModel) and converged.model.n_pairs == 8


def test_consultations_follow_every_tau_generations():
    problem = make_problem("dtlz2", 3)
    dm = ChebyshevDM(default_weights(3), seed=0)
    result = run_ltr_nsga2(problem, dm, pop_size=12, n_gen=30, tau=10, mu=4, seed=0)
    assert result.consultations == 2  # after generations 10 and 20; never after the last
    assert result.n_evals == 12 * 30


def _model_preferring_small_f1(seed=0):
    rng = np.random.default_rng(seed)
    model = PreferenceModel(n_obj=2, epochs=150, seed=seed)
    for _ in range(40):
        a, b = rng.random(2), rng.random(2)
        model.add_pair(a, b, a[0] < b[0])
    model.fit()
    return model


def test_uncertain_pairs_are_near_ties_among_the_top_quarter():
    t = np.linspace(0, 1, 40)
    F = np.column_stack([t, 1 - t])  # a non-dominated line, best (small f1) first
    model = _model_preferring_small_f1()
    scores = model.score(F)
    top = set(np.argsort(-scores)[:10].tolist())
    pairs = choose_pairs(F, 6, np.random.default_rng(0), model, rule="uncertain")
    assert len(pairs) == 6 and len({frozenset(p) for p in pairs}) == 6
    assert all(i in top and j in top for i, j in pairs)
    counts = np.bincount(np.array(pairs).ravel(), minlength=len(F))
    assert counts.max() <= 2
    gaps = [abs(scores[i] - scores[j]) for i, j in pairs]
    # no pair of the top quarter left out is a closer call than the widest one asked
    asked = {frozenset(p) for p in pairs}
    others = [
        abs(scores[i] - scores[j])
        for i in top
        for j in top
        if i < j and frozenset((i, j)) not in asked and counts[i] < 2 and counts[j] < 2
    ]
    assert max(gaps) <= min(others) + 1e-12
    # random pairs reach outside the top quarter
    drawn = choose_pairs(F, 6, np.random.default_rng(0), model, rule="random")
    assert any(i not in top or j not in top for i, j in drawn)


def test_uncertain_rule_is_random_before_a_model_and_unknown_rules_are_refused():
    F = np.column_stack([np.linspace(0, 1, 20), np.linspace(1, 0, 20)])
    untrained = PreferenceModel(n_obj=2)
    a = choose_pairs(F, 5, np.random.default_rng(1), untrained, rule="uncertain")
    b = choose_pairs(F, 5, np.random.default_rng(1), untrained, rule="random")
    assert a == b and len(a) == 5
    with pytest.raises(PreferenceError, match="pair rule"):
        choose_pairs(F, 5, np.random.default_rng(1), untrained, rule="closest")


def test_noisy_dm_and_uncertain_pairs_run_end_to_end():
    problem = make_problem("dtlz2", 3)
    dm = ChebyshevDM(default_weights(3), seed=0, flip=0.2)
    res = run_ltr_nsga2(problem, dm, pop_size=20, n_gen=41, mu=5, seed=0, pair_rule="uncertain")
    assert res.dm_queries == dm.n_queries == 20 and res.model.n_pairs == 20
    assert 0 < dm.n_flipped < 20
    answers = np.array(res.model.first_preferred)
    truth = np.array(
        [dm.value(a) <= dm.value(b) for a, b in zip(res.model.first, res.model.second, strict=True)]
    )
    assert np.sum(answers != truth) == dm.n_flipped  # the model was trained on the noisy answers
