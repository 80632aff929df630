"""ltr-nsga2 alone on a range of seeds, one JSON line per run (for code without --first-seed).

python tune.py OUT.jsonl dtlz1,dtlz3,dtlz4 M FIRST-LAST ['{PreferenceConfig settings}']
"""

import json
import sys

from ll4al.preference.experiment import PreferenceConfig, run_single

out, problems, m, seeds = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
first, last = map(int, seeds.split("-"))
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
for problem in problems:
    cfg = PreferenceConfig(problem=problem, n_obj=m, seeds=1, algorithms=["ltr-nsga2"], **extra)
    for seed in range(first, last + 1):
        record, _ = run_single(cfg, "ltr-nsga2", seed)
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
