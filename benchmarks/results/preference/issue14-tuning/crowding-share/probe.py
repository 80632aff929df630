"""epsilon* of ltr-nsga2 with a given crowding share, one JSON line per seed: the tuning runs
behind ../README.md's crowding-share section. Usage: probe.py SHARE PROBLEM N_OBJ SEEDS..."""

import json
import sys

from ll4al.preference.experiment import PreferenceConfig, run_single

share, problem, n_obj = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for seed in map(int, sys.argv[4:]):
    cfg = PreferenceConfig(
        problem=problem, n_obj=n_obj, seeds=1, algorithms=["ltr-nsga2"], crowding_share=share
    )
    record, _ = run_single(cfg, "ltr-nsga2", seed)
    line = {"problem": problem, "m": n_obj, "share": share, "seed": seed}
    print(json.dumps({**line, "eps": round(record["eps_star"], 4)}), flush=True)
