#!/bin/bash
# Choose the frozen head's training on the validation split (5,000 held out of the pool), seeds 0-2.
cd "$(dirname "$0")/../../../.."
export LL4AL_DATA=${LL4AL_DATA:-../shared/data} OMP_NUM_THREADS=1
declare -A GRID=(
  [e100-lr0.05]="train.epochs=100 train.lr=0.05 train.milestones=[80]"
  [e200-lr0.05]="train.epochs=200 train.lr=0.05 train.milestones=[160]"
  [e100-lr0.01]="train.epochs=100 train.lr=0.01 train.milestones=[80]"
  [e50-lr0.1]="train.epochs=50 train.lr=0.1 train.milestones=[40]"
  [e100-lr0.05-wd5e-3]="train.epochs=100 train.lr=0.05 train.milestones=[80] train.weight_decay=0.005"
)
for name in "${!GRID[@]}"; do
  for n in 20 100 1000; do
    sets=""
    for s in ${GRID[$name]}; do sets="$sets --set $s"; done
    ll4al run cifar10-frozen --out runs/head-tuning/$name-$n --quiet $sets \
      --set data.validation=5000 --set active.initial=$n --set active.cycles=1 \
      --set active.first=random --set 'strategies=[random]' --set 'seeds=[0,1,2]' || echo FAILED $name $n
  done
done
echo ALLDONE
