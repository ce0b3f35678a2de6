#!/usr/bin/env bash
# Critical batch of tiny language models (Kaplan et al. 2020, Zhang et al. 2024, Merrill et al. 2025)
# and their loss law (Hoffmann et al. 2022) on this machine: one `batchlab study
# experiments/configs/paper_lm_critical_batch.ini` per model size (gpt:1-32-2-64, gpt:2-64-4-64,
# gpt:2-96-4-64: 23k, 121k, 255k parameters) on Debian's dict-gcide, B = 8, 32, 128 windows of 64
# bytes, every trial to its whole budget, one rank, one thread, B_simple online from --accumulate 2.
# report.py reads every trial's metrics.csv and fits (d) with `batchlab fit --law loss-nd`.
# Lr per model size (every mode): LR_AT_B32 = 0.128 / width at B = 32 (2e-3 at width 64, the lr
# the middle model was tuned around; 4e-3 at width 32, 1.33e-3 at width 96): Adam's lr on the hidden
# matrices scaled as 1 / fan-in (muP, Yang et al. 2021), then the square-root rule over B.
#   full:    every model at 3 lr multipliers (0.5, 1, 2 x its LR_AT_B32) on the config's budget
#            (16,384 windows or 300 steps, whichever is longer): 27 trials, ~6x the quick's CPU time.
#   --quick: every model at 1 and 2 x its LR_AT_B32 (2x is the faster lr at B = 128: 55 steps to
#            3.0 nats against 98 at 1x on the middle model), on half the budget (8,192 windows or
#            200 steps, whichever is longer), two trials at a time (the machine's two cores): 18
#            trials, ~5-6 CPU-minutes, results in results_quick/. B_crit is then S(B) over two lrs,
#            and the budgets of (b) and (d) are halved with W.
# On a shared machine run it as `nice -n 5 run.sh` (trials are single-threaded; their wall-clock
# depends on the load, their CPU time, in OUT/cpu_times.txt, does not). REUSE=DIR[,DIR...] adds
# [study] reuse dirs.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
export BATCHLAB_BIN="$BIN"  # report.py's `batchlab fit --law loss-nd` uses the same binary
fresh_out
CFG="$REPO/experiments/configs/paper_lm_critical_batch.ini"
MODELS=(gpt:1-32-2-64 gpt:2-64-4-64 gpt:2-96-4-64)
GRID=(--study.lr_grid=scaled:0.5:2:3)
# 8,192 windows: 0.013225 x 619,378 training windows
(( QUICK )) && GRID=(--study.lr_grid=scaled:1:2:2 --study.max_epochs=0.013225 --study.max_steps=200 --study.threads=2)
for model in "${MODELS[@]}"; do
  name=${model//[:-]/_}
  IFS=- read -r _ width _ _ <<<"${model#gpt:}"
  lr=$(awk -v w="$width" 'BEGIN { printf "%.6g", 0.128 / w }')
  reuse=${REUSE:-}
  timed_study_run study "$BIN" "$CFG" "$OUT/$name" "--train.model=$model" "--train.lr=$lr" "${GRID[@]}" \
    ${reuse:+"--study.reuse=$reuse"}
done
times > "$OUT/cpu_times.txt"  # bash: user and system CPU of this shell, then of its children (the studies)
finish
