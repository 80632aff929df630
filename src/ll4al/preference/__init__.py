"""Interactive multi-objective optimisation via learning-to-rank (I-NSGA-II/LTR).

Needs the ``preference`` extra (``pip install "ll4al[preference]"``: pymoo, scipy). Nothing is
imported here, so ``ll4al.preference.cli`` can be wired into the main CLI without pymoo.

Modules: ``model`` (RankNet, normalisation, training), ``decision_maker`` (ChebyshevDM,
HumanDM), ``survival`` (PreferenceSurvival), ``algorithm`` (run_ltr_nsga2), ``baselines``
(NSGA-II, R-NSGA-II, PINSGA2), ``experiment`` (the epsilon* experiment), ``cli``, ``errors``
(PreferenceError, the wing's one error for bad input).
"""
