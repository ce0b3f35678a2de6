#!/usr/bin/env bash
# `batchlab train --resume` through the CLI: 40 steps straight vs 20 steps with a checkpoint,
# then --resume to 40. Bit-identical parameters show as identical evaluation losses (printed
# with 8 significant digits) and identical metrics rows (the lr warms up over 15 steps and drops
# x0.1 at step 30 = 0.05 epochs of 600 steps, so it changes on both sides of the resume); the
# checkpoint is renamed into place (no .tmp left behind).
#   bash rt_train_resume.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
fail() { echo "rt_train_resume: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
common=(--data-dir "$data" --model mlp:64 --batch-size 100 --optimizer momentum --lr 0.05
        --weight-decay 1e-4 --warmup linear --warmup-steps 15 --schedule step --milestones 0.05 --eval-every 10 --threads 1 --seed 3)

"$bin" train "${common[@]}" --steps 40 --output "$scratch/straight" >/dev/null 2>"$scratch/err" || fail "straight run: $(cat "$scratch/err")"
"$bin" train "${common[@]}" --steps 20 --checkpoint-every 20 --output "$scratch/resumed" >/dev/null 2>"$scratch/err" || fail "first half: $(cat "$scratch/err")"
[[ -f $scratch/resumed/checkpoint/rank0.pt ]] || fail "no checkpoint written"
[[ ! -e $scratch/resumed/checkpoint/rank0.pt.tmp ]] || fail "temporary checkpoint left behind"
"$bin" train "${common[@]}" --steps 40 --resume --output "$scratch/resumed" >/dev/null 2>"$scratch/err" || fail "resume: $(cat "$scratch/err")"

# Columns 1-7 (step .. eval_accuracy) must agree row for row; img/s and wall_s may not.
diff <(cut -d, -f1-7 "$scratch/straight/metrics.csv") <(cut -d, -f1-7 "$scratch/resumed/metrics.csv") \
  || fail "metrics differ between the straight and the resumed run"
(($(wc -l <"$scratch/resumed/metrics.csv") == 5)) || fail "expected header + 4 rows"
echo "rt_train_resume: ok: $(tail -1 "$scratch/resumed/metrics.csv" | cut -d, -f1-7)"
