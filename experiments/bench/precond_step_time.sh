#!/usr/bin/env bash
# Time per training step of the curvature-aware methods against momentum SGD on the Simple CNN
# (Fashion-MNIST, one rank, same batch, same threads), in one run, methods alternated round by
# round so machine load hits them alike. Time per step = wall_s / steps from summary.json, of a
# run whose only evaluation is the one at the end (the same for every method). Prints the median
# per method and the ratio to momentum SGD of the same framework.
#   usage: precond_step_time.sh BATCHLAB [STEPS=60] [ROUNDS=3] [BATCH=128] [THREADS=2] [PEER=1]
# Shampoo runs with its defaults except --precond-every (10): the eigendecompositions of its
# factors (conv1 32 x 25, conv2 64 x 800, fc2 10 x 1024; fc1 1024 x 3136 exceeds
# --shampoo-max-dim 1024 and takes the diagonal fallback) are part of the measured cost.
# K-FAC (--precondition kfac in front of momentum SGD, realtrain/kfac.h) with its defaults:
# statistics every update (conv2's A is 801 x 801 from N x 196 patches, fc1's 3137 x 3137),
# Cholesky inverses every 10 updates. PEER=1 adds the same K-FAC and momentum SGD written in
# PyTorch (experiments/bench/kfac_torch_peer.py, Debian python3-torch 1.13) to every round.
set -euo pipefail
bin=$1 steps=${2:-60} rounds=${3:-3} batch=${4:-128} threads=${5:-2} peer=${6:-1}
data=${BATCHLAB_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
[[ -d $data ]] || { echo "precond_step_time.sh: no Fashion-MNIST at $data" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
methods=(momentum shampoo kfac)
((peer)) && methods+=(torch-momentum torch-kfac)
declare -A times
run() {  # run METHOD OUT: prints seconds per step
  local m=$1 out=$2
  case $m in
    torch-*)
      local flag=(); [[ $m == torch-momentum ]] && flag=(--no-kfac)
      /usr/bin/python3 "$here/kfac_torch_peer.py" --model simple-cnn --batch-size "$batch" --threads "$threads" \
        --steps "$steps" --lr 0.001 --data-dir "$data" "${flag[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["s_per_step"])'
      return ;;
    kfac) set -- --optimizer momentum --precondition kfac --lr 0.001 ;;
    *) set -- --optimizer "$m" --lr 0.01 ;;
  esac
  "$bin" train --model simple-cnn "$@" --steps "$steps" --eval-every "$steps" \
    --batch-size "$batch" --threads "$threads" --data-dir "$data" --output "$out" >/dev/null
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["wall_s"]/s["steps"])' "$out/summary.json"
}
for ((r = 0; r < rounds; ++r)); do
  for m in "${methods[@]}"; do times[$m]+="$(run "$m" "$scratch/$m$r") "; done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '%-15s %12s %12s   (simple-cnn, batch %d, %d steps, %d threads, median of %d rounds, load %s)\n' \
  method s_per_step vs_momentum "$batch" "$steps" "$threads" "$rounds" "$(cut -d' ' -f1 /proc/loadavg)"
for m in "${methods[@]}"; do
  base_m=momentum; [[ $m == torch-* ]] && base_m=torch-momentum
  t=$(echo "${times[$m]}" | median) base=$(echo "${times[$base_m]}" | median)
  printf '%-15s %12.4f %12.2f\n' "$m" "$t" "$(awk -v a="$t" -v b="$base" 'BEGIN {print a / b}')"
done
if ((peer)); then
  a=$(echo "${times[kfac]}" | median) b=$(echo "${times[torch-kfac]}" | median)
  printf 'batchlab kfac vs PyTorch kfac: %.2fx faster per step\n' "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')"
fi
