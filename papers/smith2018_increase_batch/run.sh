#!/usr/bin/env bash
# Smith et al. 2018: decaying the lr vs increasing the batch at equal examples, on the analytic NQM.
# The lr-decay arm is a batchlab sweep (exact); the batch-increase arm is computed by report.py with
# the same exact recursion (batchlab sweep has no batch-size schedule; see README). Seconds.
# --quick is accepted and runs the same (the full run already takes seconds).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
HERE="$PAPERS_DIR/smith2018_increase_batch"
BIN=$(batchlab_bin sim)
OUT="$HERE/results"; (( QUICK )) && OUT="$HERE/results_quick"
rm -rf "$OUT"
"$BIN" sweep "$REPO/experiments/configs/paper_smith2018_increase_batch.ini" --output.dir="$OUT/lr_decay" --no-plot
write_timing "$OUT"
"$PY" "$HERE/report.py" "$OUT"
