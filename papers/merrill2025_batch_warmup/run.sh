#!/usr/bin/env bash
# Merrill et al. 2025: the branched critical batch over training vs B_simple, and a CBS-driven batch
# warm-up vs a fixed small and a fixed large batch at equal examples, on the analytic NQM
# (`batchlab branch`) and on the Fashion-MNIST MLP with Adam (`batchlab train --branch-from` /
# `--warmup-every`, 1 rank, B_simple measured online with --accumulate 2). One seed.
#   nqm/branch   experiments/configs/paper_merrill2025_nqm.ini (SGD, B = 8, lr 0.1, d = 10^4): branch
#                points at steps T (below), factors 2..128, N examples, progress gap <= 0.5; exact
#                B_simple and the analytic S(B) bend at each point (branch.json)
#   nqm/warmup   the same run warmed up: test doubling every 16,384 examples, N = 16,384, gap <= 0.05
#   real/base_t<T>   the Adam run (mlp 784-256-256-10, B = 32, lr 1e-3) checkpointed at step T
#   real/branch_t<T> its branches (factors 2..16, N = 8,192 examples, progress gap <= 0.5)
#   real/warmup (gap <= 0.1), real/fixed_small, real/fixed_large   the warm-up and the fixed batches (the large
#                one at the warm-up's final batch and its coupled lr), equal examples
# --quick: fewer branch points and shorter runs. Writes OUT (results/ or results_quick/) and report.py's outputs.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
fresh_out
CFG="$REPO/experiments/configs/paper_merrill2025_nqm.ini"
DATA=/usr/share/datasets/fashion-mnist

# ---- NQM ----
if (( QUICK )); then NQM_STEPS=250,2000,16000; NQM_TOTAL=262144; else NQM_STEPS=250,1000,4000,16000,64000; NQM_TOTAL=1048576; fi
echo "merrill2025: NQM branches at steps $NQM_STEPS" >&2
"$BIN" branch "$CFG" --output.dir="$OUT/nqm/branch" --branch-at-step "$NQM_STEPS" --branch-factors 2,4,8,16,32,64,128 \
  --branch-examples 65536 --branch-epsilon 0.5 --no-plot >&2
echo "merrill2025: NQM warm-up over $NQM_TOTAL examples" >&2
"$BIN" branch "$CFG" --output.dir="$OUT/nqm/warmup" --warmup-every 16384 --warmup-examples "$NQM_TOTAL" \
  --branch-examples 16384 --branch-epsilon 0.05 --no-plot >&2

# ---- Fashion-MNIST MLP, Adam ----
if (( QUICK )); then REAL_STEPS=(50 400); TOTAL=32768; else REAL_STEPS=(50 200 800 1600); TOTAL=65536; fi
R="$OUT/real"
COMMON=(--data-dir "$DATA" --model mlp --optimizer adam --accumulate 2 --eval-every 50
        --eval-examples 2000 --threads 1 --loader-threads 1 --seed 0)
RUN=("${COMMON[@]}" --lr 0.001 --batch-size 32)  # the run that is branched and warmed up
prev=0
for t in "${REAL_STEPS[@]}"; do  # the base run, checkpointed at each branch point (an evaluation step)
  resume=(); (( prev > 0 )) && resume=(--resume)
  echo "merrill2025: real base run to step $t" >&2
  "$BIN" train "${RUN[@]}" --steps "$t" --checkpoint-every "$t" --output "$R/base" "${resume[@]}" >&2
  cp -r "$R/base" "$R/base_t$t"
  "$BIN" train "${RUN[@]}" --branch-from "$R/base_t$t" --branch-factors 2,4,8,16 --branch-examples 8192 \
    --branch-epsilon 0.5 --output "$R/branch_t$t" >&2
  prev=$t
done
echo "merrill2025: real warm-up over $TOTAL examples" >&2
"$BIN" train "${RUN[@]}" --warmup-every 4096 --warmup-examples "$TOTAL" --branch-examples 4096 --branch-epsilon 0.1 \
  --output "$R/warmup" >&2
"$BIN" train "${RUN[@]}" --steps $((TOTAL / 32)) --output "$R/fixed_small" >&2
FINAL=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['final_batch'])" "$R/warmup/warmup.json")
LR_FINAL=$("$PY" -c "import math,sys; print(repr(0.001 * math.sqrt(int(sys.argv[1]) / 32)))" "$FINAL")
"$BIN" train "${COMMON[@]}" --batch-size "$FINAL" --lr "$LR_FINAL" --steps $((TOTAL / FINAL)) --output "$R/fixed_large" >&2
finish
