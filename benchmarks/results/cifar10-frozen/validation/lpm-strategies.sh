#!/bin/bash
# Which LPM-based strategy on the frozen head: the validation split (5,000 held out of the pool), seeds 0-2.
cd "$(dirname "$0")/../../../.."
export LL4AL_DATA=${LL4AL_DATA:-../shared/data} OMP_NUM_THREADS=1
ll4al run cifar10-frozen --out runs/lpm-validation --quiet --set data.validation=5000 \
  --set 'strategies=[random,learning-loss-balanced,learning-loss-budget,learning-loss-cover,learning-loss-diverse]' \
  --set 'seeds=[0,1,2]'
echo VAL-DONE
