#!/usr/bin/env bash
# 2 ranks x 1 thread vs 1 rank x 2 threads vs 1 rank x 1 thread (issue 4's scaling benchmark):
# the Simple CNN at global batch 256 for N steps, the configurations run in turn, R rounds, with
# the 2-rank run under mpirun --bind-to none and --bind-to core. Prints per run: img/s of the
# training loop, communication s, compute s (summary.json). Ideal for 2x1 is 2 x the 1x1 img/s
# of the same round. Stop other jobs first: any job on either core stalls both ranks at the
# all-reduce.
#   usage: experiments/bench/rank_scaling.sh BATCHLAB_BIN [N=60] [R=3]
set -euo pipefail
BIN=${1:?usage: rank_scaling.sh BATCHLAB_BIN [N] [R]}
N=${2:-60}; R=${3:-3}
[[ -x "$BIN" ]] || { echo "rank_scaling.sh: BATCHLAB_BIN='$BIN' is not executable" >&2; exit 2; }
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
common=(train --model simple-cnn --batch-size 256 --optimizer momentum --lr 0.05 --momentum 0.9
        --steps "$N" --eval-every "$N" --loader-threads 1 --seed 0)
mpi=(mpirun -np 2 --allow-run-as-root --mca mpi_yield_when_idle 1 -x OMP_NUM_THREADS=1)
report() {
  /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1]+'/summary.json')); t=d['time_split']
print(f\"{sys.argv[2]:<12} {d['img_per_s']:8.0f} img/s  comm {t['communication_s']:.2f} s  compute {t['compute_s']:.2f} s\")" "$1" "$2"
}
for r in $(seq "$R"); do
  echo "round $r"
  OMP_NUM_THREADS=1 "$BIN" "${common[@]}" --threads 1 --output "$OUT/1x1" > /dev/null; report "$OUT/1x1" 1x1
  for bind in none core; do
    "${mpi[@]}" --bind-to "$bind" "$BIN" "${common[@]}" --threads 1 --output "$OUT/2x1" > /dev/null
    report "$OUT/2x1" "2x1-$bind"
  done
  OMP_NUM_THREADS=2 "$BIN" "${common[@]}" --threads 2 --output "$OUT/1x2" > /dev/null; report "$OUT/1x2" 1x2
done
