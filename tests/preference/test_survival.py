import pytest

pytest.importorskip("pymoo")

import numpy as np  # noqa: E402
from pymoo.core.population import Population  # noqa: E402
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting  # noqa: E402

from ll4al.preference.experiment import make_problem  # noqa: E402
from ll4al.preference.model import PreferenceModel  # noqa: E402
from ll4al.preference.survival import PreferenceSurvival, select_by_score  # noqa: E402


def _trained_model(seed=0):
    rng = np.random.default_rng(seed)
    model = PreferenceModel(n_obj=3, epochs=100, seed=seed)
    for _ in range(40):
        a, b = rng.random(3), rng.random(3)
        model.add_pair(a, b, a[0] < b[0])  # the DM wants a small f1
    model.fit()
    return model


def _population(problem, n, seed):
    X = np.random.default_rng(seed).random((n, problem.n_var))
    pop = Population.new(X=X)
    pop.set("F", problem.evaluate(X, return_values_of=["F"]))
    return pop


@pytest.mark.parametrize("trained", [False, True])
def test_survival_keeps_population_size(trained):
    problem = make_problem("dtlz2", 3)
    model = _trained_model() if trained else PreferenceModel(n_obj=3)
    survivors = PreferenceSurvival(model).do(problem, _population(problem, 60, 1), n_survive=24)
    assert len(survivors) == 24
    assert len({id(ind) for ind in survivors}) == 24


def test_last_front_is_cut_by_learned_score():
    problem = make_problem("dtlz2", 3)
    model = _trained_model()
    pop = _population(problem, 80, 2)
    survival = PreferenceSurvival(model, niche_radius=0.0, crowding_share=0.0)
    survivors = survival.do(problem, pop, n_survive=30)
    ranks = survivors.get("rank")
    last = ranks.max()
    F_all, rank_all = pop.get("F"), pop.get("rank")
    cut = F_all[rank_all == last]
    kept = survivors.get("F")[ranks == last]
    # every kept member of the partial front scores at least as high as every dropped one
    kept_keys = {tuple(f) for f in kept}
    dropped = np.array([f for f in cut if tuple(f) not in kept_keys])
    assert len(dropped) > 0
    assert model.score(kept).min() >= model.score(dropped).max()
    np.testing.assert_allclose(
        survivors.get("crowding"), model.score(survivors.get("F")), rtol=1e-6
    )


def test_select_by_score_spreads_candidates_by_the_niche_radius():
    points = np.array([[0.0, 0.0], [0.001, 0.0], [0.5, 0.5], [0.002, 0.0]])
    scores = np.array([4.0, 3.0, 1.0, 2.0])
    assert list(select_by_score(points, scores, 2, radius=0.0)) == [0, 1]
    assert list(select_by_score(points, scores, 2, radius=0.1)) == [0, 2]
    # not enough spread-out candidates: the skipped ones fill up, in score order
    assert list(select_by_score(points, scores, 3, radius=0.1)) == [0, 2, 1]


def test_each_objectives_extreme_of_the_first_front_survives_a_cut():
    problem = make_problem("dtlz2", 3)
    model = _trained_model()  # prefers a small f1, so the largest-f1 member scores worst
    pop = _population(problem, 80, 3)
    F = pop.get("F")
    front = NonDominatedSorting().do(F, only_non_dominated_front=True)
    assert len(front) > 6  # the first front itself is cut below
    extremes = {tuple(F[front][k]) for k in np.argmax(F[front], axis=0)}
    kept = PreferenceSurvival(model, keep_extremes=True).do(problem, pop, n_survive=6)
    assert len(kept) == 6 and extremes <= {tuple(f) for f in kept.get("F")}
    dropped = PreferenceSurvival(model, crowding_share=0.0).do(problem, pop, n_survive=6)
    assert not extremes <= {tuple(f) for f in dropped.get("F")}


def test_a_crowding_share_of_the_cut_goes_to_the_largest_crowding_distances():
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance

    problem = make_problem("dtlz2", 3)
    model = _trained_model()
    pop = _population(problem, 80, 3)
    F = pop.get("F")
    front = NonDominatedSorting().do(F, only_non_dominated_front=True)
    assert len(front) > 10  # the first front itself is cut to 10
    distance = calc_crowding_distance(F[front])
    widest = {tuple(F[front][k]) for k in np.argsort(-distance, kind="stable")[:5]}

    kept = PreferenceSurvival(model, crowding_share=0.5).do(problem, pop, n_survive=10)
    kept_F = {tuple(f) for f in kept.get("F")}
    assert len(kept) == 10 and widest <= kept_F
    by_score = PreferenceSurvival(model, niche_radius=0.0, crowding_share=0.0)
    by_score = by_score.do(problem, pop, n_survive=10)
    assert not widest <= {tuple(f) for f in by_score.get("F")}  # score alone drops some
    # the other half is still chosen by score: the best-scored member survives
    assert tuple(F[front][np.argmax(model.score(F[front]))]) in kept_F
    only_crowding = PreferenceSurvival(model, crowding_share=1.0).do(problem, pop, n_survive=10)
    ten_widest = {tuple(F[front][k]) for k in np.argsort(-distance, kind="stable")[:10]}
    assert {tuple(f) for f in only_crowding.get("F")} == ten_widest


def test_crowding_share_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="crowding_share"):
        PreferenceSurvival(PreferenceModel(n_obj=3), crowding_share=1.5)
