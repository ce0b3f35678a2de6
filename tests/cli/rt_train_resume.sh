#!/usr/bin/env bash
# `batchlab train --resume` through the CLI: a resumed run's metrics.csv equals the uninterrupted
# run's in every column but the pure timings (img_per_s, wall_s), whether the run stopped at an
# evaluation or between two of them (the train_loss of the window that spans the checkpoint
# then needs the losses from before the stop). Three ways to stop, each against a straight run:
#   1. 20 steps with a checkpoint at 20 (an evaluation step), --resume to 40;
#   2. 25 steps with a checkpoint at 15 (between the evaluations at 10 and 20), --resume to 40;
#      the stopped run's own final row (25) must not survive;
#   3. a real SIGKILL of a 150-step run once it has checkpointed (every 7 steps, evaluations
#      every 10, so the checkpoint it leaves almost always lies inside a window), --resume.
# The lr warms up over 15 steps and drops x0.1 at step 30 (= 0.05 epochs of 600 steps), so it
# changes on both sides of each resume; checkpoints are renamed into place (no .tmp left).
#   bash rt_train_resume.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
fail() { echo "rt_train_resume: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
common=(--data-dir "$data" --model mlp:64 --batch-size 100 --optimizer momentum --lr 0.05
        --weight-decay 1e-4 --warmup linear --warmup-steps 15 --schedule step --milestones 0.05 --eval-every 10 --threads 1 --seed 3)
train() {  # NAME ARGS...: one run, its stderr kept for the failure message
  local name=$1
  shift
  "$bin" train "${common[@]}" "$@" >/dev/null 2>"$scratch/err" || fail "$name: $(cat "$scratch/err")"
}

# metrics.csv without its timing columns, found by header name (so a new column is compared).
untimed() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) drop[i] = ($i == "img_per_s" || $i == "wall_s") }
           { out = ""; n = 0; for (i = 1; i <= NF; ++i) if (!drop[i]) out = out (n++ ? "," : "") $i; print out }' "$1"
}
same_metrics() {  # WHAT STRAIGHT_DIR RESUMED_DIR ROWS
  local rows
  rows=$(wc -l <"$3/metrics.csv")
  ((rows == $4 + 1)) || fail "$1: expected header + $4 rows, got $rows lines"
  diff <(untimed "$2/metrics.csv") <(untimed "$3/metrics.csv") ||
    fail "$1: metrics (all but img_per_s, wall_s) differ between the straight and the resumed run"
}

# 1. Stopped at an evaluation step.
train "straight run" --steps 40 --output "$scratch/straight"
train "first half" --steps 20 --checkpoint-every 20 --output "$scratch/resumed"
[[ -f $scratch/resumed/checkpoint/rank0.pt ]] || fail "no checkpoint written"
[[ ! -e $scratch/resumed/checkpoint/rank0.pt.tmp ]] || fail "temporary checkpoint left behind"
train "resume" --steps 40 --resume --output "$scratch/resumed"
same_metrics "stopped at an evaluation" "$scratch/straight" "$scratch/resumed" 4

# 2. Stopped between two evaluations: the checkpoint at 15 holds the losses of steps 11-15.
train "stopped at 25" --steps 25 --checkpoint-every 15 --output "$scratch/window"
(($(wc -l <"$scratch/window/metrics.csv") == 4)) || fail "the stopped run should have rows 10, 20, 25"
train "resume from 15" --steps 40 --checkpoint-every 15 --resume --output "$scratch/window"
same_metrics "stopped between evaluations" "$scratch/straight" "$scratch/window" 4

# 3. Killed (SIGKILL) wherever it is once two evaluations and a checkpoint are on disk.
killed=(--steps 150 --checkpoint-every 7)
train "straight 150" "${killed[@]}" --output "$scratch/straight150"
"$bin" train "${common[@]}" "${killed[@]}" --output "$scratch/killed" >/dev/null 2>"$scratch/err" &
pid=$!
for _ in $(seq 600); do
  [[ -f $scratch/killed/checkpoint/rank0.pt && -f $scratch/killed/metrics.csv ]] &&
    (($(wc -l <"$scratch/killed/metrics.csv") >= 3)) && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -KILL "$pid" 2>/dev/null
{ wait "$pid"; } 2>/dev/null  # without the shell's "Killed" line
status=$?
at=$(tail -1 "$scratch/killed/metrics.csv" | cut -d, -f1)
train "resume after the kill" "${killed[@]}" --resume --output "$scratch/killed"
same_metrics "killed after step $at (exit status $status)" "$scratch/straight150" "$scratch/killed" 15

echo "rt_train_resume: ok: $(untimed "$scratch/window/metrics.csv" | tail -1); killed after row $at (status $status)"
