#!/usr/bin/env bash
# Smith et al. 2018, real-training arm (called by run.sh; runs alone too): `batchlab train` on the
# Fashion-MNIST MLP (784-256-256-10), 2 ranks under mpirun, momentum 0.9, lr 0.05 at B = 128,
# three phases of 128,000 examples (384,000 = 6.4 passes in all), the full test set evaluated
# every 40 updates (every phase ends on one). Four arms at equal examples, seeds 0 and 1:
#   decay_lr        B = 128, lr x0.2 at 128k and 256k examples (--schedule step, milestones in epochs)
#   increase_batch  lr 0.05 throughout, B x5 at the same example counts: 128 -> 640 -> 3200
#   hybrid          B x5 at 128k capped at 640 (--batch-max), then lr x0.2 at 256k (Smith's hybrid)
#   constant        B = 128, lr 0.05 throughout (control: what the decay buys here)
# Every arm gets the same --epochs; an epoch is floor(60000 / 128) x 128 = 59,904 examples
# (realtrain/train_config.h), so 1000 / 468 epochs are 128,000 examples. ~5 min here (--quick:
# seed 0 only). Writes results/real/<arm>_s<seed>/{metrics.csv,summary.json} and timing.json.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
OUT="$OUT/real"; fresh_out
DATA=/usr/share/datasets/fashion-mnist
LAUNCH=(mpirun -np 2 --allow-run-as-root --bind-to none --mca mpi_yield_when_idle 1 -x OMP_NUM_THREADS=1)
ep() { "$PY" -c "import sys; print(repr(int(sys.argv[1]) / 468))" "$1"; }  # updates at B = 128 -> epochs
M1=$(ep 1000); M2=$(ep 2000); END=$(ep 3000)
SEEDS=(0 1); (( QUICK )) && SEEDS=(0)
COMMON=(--data-dir "$DATA" --model mlp --batch-size 128 --optimizer momentum --momentum 0.9 --lr 0.05
        --epochs "$END" --eval-every 40 --threads 1 --loader-threads 1)
train() {  # train NAME SEED ARGS...
  local name=$1 seed=$2; shift 2
  echo "smith2018 real: $name seed $seed" >&2
  "${LAUNCH[@]}" "$BIN" train "${COMMON[@]}" --seed "$seed" --output "$OUT/${name}_s$seed" "$@" >&2
}
for seed in "${SEEDS[@]}"; do
  train decay_lr "$seed" --schedule step --milestones "$M1,$M2" --decay-factor 0.2
  train increase_batch "$seed" --batch-milestones 128000,256000 --batch-factor 5
  train hybrid "$seed" --batch-milestones 128000,256000 --batch-factor 5 --batch-max 640 \
    --schedule step --milestones "$M2" --decay-factor 0.2
  train constant "$seed"
done
write_timing "$OUT"
