#!/usr/bin/env bash
# Critical batch of tiny language models (Kaplan et al. 2020, Zhang et al. 2024, Merrill et al. 2025)
# and their loss law (Hoffmann et al. 2022) on this machine: one `batchlab study
# experiments/configs/paper_lm_critical_batch.ini` per model size (gpt:1-32-2-64, gpt:2-64-4-64,
# gpt:2-96-4-64: 23k, 121k, 255k parameters) on Debian's dict-gcide, B = 8, 32, 128 windows of 64
# bytes, every trial to its whole budget (16,384 windows or 300 steps, whichever is longer), one rank,
# one thread, B_simple online from --accumulate 2. report.py reads every trial's metrics.csv.
#   full:    3 lr multipliers (0.5, 1, 2 x the square-root rule's lr) per batch size: 27 trials;
#            the 1x trials of an earlier --quick run (results_quick/) are reused, not rerun.
#   --quick: the rule's lr only (9 trials; ~20 min here), results and report in results_quick/.
# Runs at nice 10 (the machine is shared). REUSE=DIR[,DIR...] adds more [study] reuse dirs.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
renice -n 10 -p $$ >/dev/null
BIN=$(batchlab_bin rt)
fresh_out
CFG="$REPO/experiments/configs/paper_lm_critical_batch.ini"
ARGS=()
(( QUICK )) && ARGS=(--study.lr_grid=scaled:1:1:1)
for model in gpt:1-32-2-64 gpt:2-64-4-64 gpt:2-96-4-64; do
  name=${model//[:-]/_}
  reuse=${REUSE:-}
  if (( ! QUICK )) && [[ -d "$HERE/results_quick/$name/trials" ]]; then
    reuse="$HERE/results_quick/$name${reuse:+,$reuse}"
  fi
  timed_study_run study "$BIN" "$CFG" "$OUT/$name" "--train.model=$model" "${ARGS[@]}" \
    ${reuse:+"--study.reuse=$reuse"}
done
finish
