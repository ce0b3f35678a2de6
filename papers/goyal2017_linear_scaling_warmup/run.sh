#!/usr/bin/env bash
# Goyal et al. 2017, simulated: linear lr scaling and gradual warm-up on the analytic NQM.
#   1. tune lr_ref at batch_ref = 4 (plain lr grid);
#   2. with that lr_ref: the linear rule alone, the rule + gradual warm-up, sqrt scaling, and the
#      best multiplier around the linear rule (tuned), each over B = 2^2 .. 2^16.
#   3. real training (run_real.sh): Fashion-MNIST MLP, linear rule with and without warm-up.
# Full: ~8 min (simulated) + ~10-15 min (real) on this loaded 2-core machine; --quick: B up to
# 2^12 and coarser grids in the simulated part (the real part is the same).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
CFG="$REPO/experiments/configs/paper_goyal2017_nqm.ini"
BIN=$(batchlab_bin sim)
EXTRA=(); TUNE_GRID=log:1e-3:2:41; MULT_GRID=scaled:1e-4:8:50
if (( QUICK )); then
  EXTRA=(--study.batch_sizes=pow2:2:12); TUNE_GRID=log:1e-3:2:21; MULT_GRID=scaled:1e-3:4:13
fi
WARMUP_STEPS=200
fresh_out
# (noise_scale.big_batch: the sweep rejects one batch size otherwise, see the team report)
"$BIN" sweep "$CFG" --scaling.rule=none --study.lr_grid=$TUNE_GRID --study.batch_sizes=4 --noise_scale.big_batch=8 \
  --output.dir="$OUT/tune_ref" --no-plot
LR_REF=$("$PY" -c 'import csv,sys; r=[x for x in csv.DictReader(open(sys.argv[1])) if x["status"]=="reached"]; print(r[0]["lr"])' \
  "$OUT/tune_ref/steps_vs_batch.csv")
echo "lr_ref (best lr at batch_ref = 4): $LR_REF"
run() { local name=$1; shift; "$BIN" sweep "$CFG" --scaling.lr_ref="$LR_REF" --output.dir="$OUT/$name" --no-plot "${EXTRA[@]}" "$@"; }
run linear
run linear_warmup --schedule.warmup=gradual --schedule.warmup_steps=$WARMUP_STEPS
run sqrt --scaling.rule=sqrt
run tuned --study.lr_grid=$MULT_GRID
run tuned_warmup --study.lr_grid=$MULT_GRID --schedule.warmup=gradual --schedule.warmup_steps=$WARMUP_STEPS
write_timing "$OUT"
"$HERE/run_real.sh" "$@"  # real training, results in $OUT/real (its own timing.json)
"$PY" "$HERE/report.py" "$OUT"
