#!/usr/bin/env bash
# Douillard et al. 2023 (DiLoCo) and 2025 (Streaming DiLoCo): steps and bytes one worker sends to
# reach a target, for five sync policies at equal global batch (report.py):
#   sync        gradient all-reduce every step (ordinary data parallelism)
#   local       local:H (parameter averaging every H steps = DiLoCo with outer SGD, lr 1, no momentum)
#   post_local  post-local:H@4H (sync for 4H steps, then local:H; Lin et al. 2020)
#   diloco      diloco:H, outer Nesterov lr 0.7, momentum 0.9 (the paper's values)
#   streaming4  streaming-diloco:H:F, the same outer step, pseudo-gradients in 4 bits (stochastic
#               rounding), each fragment's result landing 1 update after it is sent (overlap)
# Inner optimizer AdamW everywhere. Simulated: K = 8 workers on the sampled NQM (H = 50, F = 5)
# and on the teacher-student MLP (H = 25, F = 5), a log grid of inner lrs, 3 seeds (--quick: 1),
# every arm evaluated every H updates (the round boundaries). Real: the Fashion-MNIST MLP on 2 MPI
# ranks, global batch 256, AdamW lr 1e-3, H = 20 (F = 4), to test accuracy 0.86 (3 epochs at most),
# one seed; in both modes. And a tiny GPT (gpt:2-64-4-64, 120k parameters) on gcide bytes on 2 ranks,
# global batch 32 windows of 64 bytes, AdamW lr 2e-3 (20 warm-up steps, weight decay 0.1, bf16
# autocast), H = 20 (F = 4), evaluated every 20 steps on 256 validation windows, until validation
# loss 2.4 nats/byte (600 steps at most), one seed, arms sync, local, diloco, streaming4, in both
# modes (~6 min here at load ~14). The wall time of a run is in the README's generated section.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin sim)
RT=$(batchlab_bin rt)
fresh_out
SEEDS=(); (( QUICK )) && SEEDS=(--study.seeds=0)

# sim_arms NAME H F T0: the five arms of one landscape into OUT/sim_NAME/ARM.
sim_arms() {
  local name=$1 h=$2 f=$3 t0=$4 cfg="$REPO/experiments/configs/paper_douillard2023_$1.ini"
  local common=(--study.eval_every="$h" --no-plot "${SEEDS[@]}")
  local stream=(--sync.outer_bits=4 --sync.outer_rounding=stochastic --sync.outer_overlap=true --sync.outer_overlap_steps=1)
  sweep() { "$BIN" sweep "$cfg" --output.dir="$OUT/sim_$name/$1" "${common[@]}" "${@:2}" >&2; }
  sweep sync --sync.policy=sync
  sweep local --sync.policy=local:"$h"
  sweep post_local --sync.policy=post-local:"$h@$t0"
  sweep diloco --sync.policy=diloco:"$h"
  sweep streaming4 --sync.policy=streaming-diloco:"$h:$f" "${stream[@]}"
}
sim_arms nqm 50 5 200
sim_arms mlp 25 5 100

# The real arms: `batchlab train` on 2 ranks, each stopping at the target.
DATA=/usr/share/datasets/fashion-mnist
LAUNCH=(mpirun -np 2 --allow-run-as-root --bind-to none --mca mpi_yield_when_idle 1 -x OMP_NUM_THREADS=1)
REAL=(--data-dir "$DATA" --model mlp --batch-size 256 --optimizer adamw --lr 0.001 --epochs 3 --eval-every 20
      --target 0.86 --threads 1 --loader-threads 1 --seed 0)
real_t0=$(date +%s.%N)
arm() {  # arm SETTING NAME ARGS...: one 2-rank `batchlab train` ARGS into $OUT/SETTING/NAME
  echo "douillard2023 $1: $2" >&2
  "${LAUNCH[@]}" "$RT" train "${@:3}" --output "$OUT/$1/$2" >&2
}
train() { arm real "$1" "${REAL[@]}" "${@:2}"; }  # train ARM ARGS...
train sync --sync sync
train local --sync local:20
train post_local --sync post-local:20@80
train diloco --sync diloco:20
train streaming4 --sync streaming-diloco:20:4 --outer-bits 4 --outer-rounding stochastic --outer-overlap \
  --outer-overlap-steps 1
setting_timing() {  # setting_timing T0 DIR: DIR/timing.json with the wall-clock since T0
  "$PY" -c "import json, sys; json.dump({'wall_s': float(sys.argv[2]) - float(sys.argv[1])}, open(sys.argv[3], 'w'))" \
    "$1" "$(date +%s.%N)" "$2/timing.json"
}
setting_timing "$real_t0" "$OUT/real"

# The GPT arms: a language model to a validation loss (--target-loss), no post-local arm.
GPT=(--dataset text --model gpt:2-64-4-64 --batch-size 32 --optimizer adamw --lr 0.002 --weight-decay 0.1
     --warmup linear --warmup-steps 20 --precision bf16 --eval-examples 256 --eval-every 20 --steps 600
     --target-loss 2.4 --threads 1 --loader-threads 1 --seed 0)
gpt_t0=$(date +%s.%N)
gpt() { arm real_gpt "$1" "${GPT[@]}" "${@:2}"; }  # gpt ARM ARGS...
gpt sync --sync sync
gpt local --sync local:20
gpt diloco --sync diloco:20
gpt streaming4 --sync streaming-diloco:20:4 --outer-bits 4 --outer-rounding stochastic --outer-overlap \
  --outer-overlap-steps 1
setting_timing "$gpt_t0" "$OUT/real_gpt"
times > "$OUT/cpu_times.txt"  # bash: user and system CPU of this shell, then of its children
finish
