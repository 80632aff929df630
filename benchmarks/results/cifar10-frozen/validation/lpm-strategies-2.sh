#!/bin/bash
# Second look for an LPM-based strategy on the frozen head (validation split, 5,000 held out of
# the pool, seeds 0-2): the budget rule's threshold (50 labels a class; 100, i.e. typical picks
# all the way to 1,000 labels), the LPM as a looser filter before coverage (learning-loss-cover
# with shortlists of 5 and 20 times each class's quota), and core-set for reference.
cd "$(dirname "$0")/../../../.."
export LL4AL_DATA=${LL4AL_DATA:-../shared/data} OMP_NUM_THREADS=1
ll4al run cifar10-frozen --out runs/lpm-validation2 --quiet --set data.validation=5000 \
  --set 'strategies=[random,core-set,learning-loss-budget(min_labeled_per_class=50),learning-loss-budget(min_labeled_per_class=100)]' \
  --set 'seeds=[0,1,2]'                                      # -> lpm-strategies-2.jsonl
ll4al run cifar10-frozen --out runs/lpm-validation3 --quiet --set data.validation=5000 \
  --set 'strategies=[random,learning-loss-cover(shortlist_factor=5),learning-loss-cover(shortlist_factor=20)]' \
  --set 'seeds=[0,1,2]'                                      # -> lpm-strategies-3.jsonl
