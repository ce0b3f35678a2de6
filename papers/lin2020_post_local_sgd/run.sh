#!/usr/bin/env bash
# Lin et al. 2020, simulated: large-batch SGD vs local SGD vs post-local SGD at equal global batch
# (8 simulated workers, experiments/configs/paper_lin2020_post_local_sgd.ini): final test MSE after
# a fixed budget, best lr per policy, and communication rounds (report.py).
# Then the real-training part (run_real.sh, 2 ranks). Full: ~10 min simulated + ~5-10 min real
# here; --quick: one seed, one batch size in the simulated part.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
CFG="$REPO/experiments/configs/paper_lin2020_post_local_sgd.ini"
BIN=$(batchlab_bin sim)
EXTRA=()
(( QUICK )) && EXTRA=(--study.seeds=0 --study.batch_sizes=512)
fresh_out
for policy in sync local:16 post-local:16@1000; do
  "$BIN" sweep "$CFG" --sync.policy=$policy --output.dir="$OUT/final_${policy%%:*}" --no-plot "${EXTRA[@]}"
done
write_timing "$OUT"
"$HERE/run_real.sh" "$@"  # real training on 2 ranks, results in $OUT/real (its own timing.json)
"$PY" "$HERE/report.py" "$OUT"
