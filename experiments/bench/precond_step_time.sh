#!/usr/bin/env bash
# Time per training step of the curvature-aware rules against momentum SGD on the Simple CNN
# (Fashion-MNIST, one rank, same batch, same threads), in one run, rules alternated round by
# round so machine load hits them alike. Time per step = wall_s / steps from summary.json, of a
# run whose only evaluation is the one at the end (the same for every rule). Prints the median
# per rule and the ratio to momentum.
#   usage: precond_step_time.sh BATCHLAB [STEPS=60] [ROUNDS=3] [BATCH=128] [THREADS=2]
# Shampoo runs with its defaults except --precond-every (10): the eigendecompositions of its
# factors (conv1 32 x 25, conv2 64 x 800, fc2 10 x 1024; fc1 1024 x 3136 exceeds
# --shampoo-max-dim 1024 and takes the diagonal fallback) are part of the measured cost.
set -euo pipefail
bin=$1 steps=${2:-60} rounds=${3:-3} batch=${4:-128} threads=${5:-2}
data=${BATCHLAB_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
[[ -d $data ]] || { echo "precond_step_time.sh: no Fashion-MNIST at $data" >&2; exit 2; }
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
rules=(momentum shampoo)
declare -A times
for ((r = 0; r < rounds; ++r)); do
  for rule in "${rules[@]}"; do
    out="$scratch/$rule$r"
    "$bin" train --model simple-cnn --optimizer "$rule" --lr 0.01 --steps "$steps" --eval-every "$steps" \
      --batch-size "$batch" --threads "$threads" --data-dir "$data" --output "$out" >/dev/null
    times[$rule]+="$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["wall_s"]/s["steps"])' "$out/summary.json") "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=$(echo "${times[momentum]}" | median)
printf '%-10s %12s %10s   (simple-cnn, batch %d, %d steps, %d threads, median of %d rounds, load %s)\n' \
  rule s_per_step vs_momentum "$batch" "$steps" "$threads" "$rounds" "$(cut -d' ' -f1 /proc/loadavg)"
for rule in "${rules[@]}"; do
  t=$(echo "${times[$rule]}" | median)
  printf '%-10s %12.4f %10.2f\n' "$rule" "$t" "$(awk -v a="$t" -v b="$base" 'BEGIN {print a / b}')"
done
