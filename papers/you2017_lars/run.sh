#!/usr/bin/env bash
# you2017_lars: the shared large-batch sweep on the badly scaled sampled NQM (papers/_shared/large_batch_nqm.sh:
# momentum, Nesterov, Adam, LARS, LAMB; ~30-40 min on 2 shared cores the first time, reused after),
# then report.py writes this paper's table, figure.png and the README numbers.
# --quick: 7 lrs x 3 batch sizes (a few minutes).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
HERE="$PAPERS_DIR/you2017_lars"
BIN=$(batchlab_bin sim)
OUT="$HERE/results"; (( QUICK )) && OUT="$HERE/results_quick"
rm -rf "$OUT"; mkdir -p "$OUT"
SWEEP=$("$PAPERS_DIR/_shared/large_batch_nqm.sh" "$BIN" "$QUICK")
ln -sfn "$SWEEP" "$OUT/sweep"
write_timing "$OUT"
"$PY" "$HERE/report.py" "$OUT"
