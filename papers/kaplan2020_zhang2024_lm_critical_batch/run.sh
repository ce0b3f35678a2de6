#!/usr/bin/env bash
# Critical batch of tiny language models (Kaplan et al. 2020, Zhang et al. 2024, Merrill et al. 2025)
# and their loss law (Hoffmann et al. 2022) on this machine: one `batchlab study
# experiments/configs/paper_lm_critical_batch.ini` per model size (gpt:1-32-2-64, gpt:2-64-4-64,
# gpt:2-96-4-64: 23k, 121k, 255k parameters) on Debian's dict-gcide, B = 8, 32, 128 windows of 64
# bytes, every trial to its whole budget (16,384 windows or 300 steps, whichever is longer), one rank,
# one thread, B_simple online from --accumulate 2. report.py reads every trial's metrics.csv.
#   full:    the middle model (the one (a), (c) and the data axis of (b) read) at 3 lr multipliers
#            (0.5, 1, 2 x the square-root rule's lr), the other two at the rule's lr: 15 trials (the
#            machine's time allowed no more); the trials of an earlier --quick run (results_quick/)
#            with the same settings are reused, not rerun.
#   --quick: the two smaller models at the rule's lr only (6 trials), results and report in
#            results_quick/: (a) and (c) as in the full run, (b) with two model sizes, no loss law
#            (it needs three model sizes).
# Runs at nice 10 (the machine is shared). REUSE=DIR[,DIR...] adds more [study] reuse dirs.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
renice -n 10 -p $$ >/dev/null
BIN=$(batchlab_bin rt)
fresh_out
CFG="$REPO/experiments/configs/paper_lm_critical_batch.ini"
MAIN=gpt:2-64-4-64
MODELS=(gpt:1-32-2-64 "$MAIN" gpt:2-96-4-64)
(( QUICK )) && MODELS=(gpt:1-32-2-64 "$MAIN")
for model in "${MODELS[@]}"; do
  name=${model//[:-]/_}
  ARGS=(--study.lr_grid=scaled:1:1:1)
  [[ "$model" == "$MAIN" ]] && (( ! QUICK )) && ARGS=(--study.lr_grid=scaled:0.5:2:3)
  reuse=${REUSE:-}
  if (( ! QUICK )) && [[ -d "$HERE/results_quick/$name/trials" ]]; then
    reuse="$HERE/results_quick/$name${reuse:+,$reuse}"
  fi
  timed_study_run study "$BIN" "$CFG" "$OUT/$name" "--train.model=$model" "${ARGS[@]}" \
    ${reuse:+"--study.reuse=$reuse"}
done
finish
