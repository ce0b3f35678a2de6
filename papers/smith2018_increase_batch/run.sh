#!/usr/bin/env bash
# Smith et al. 2018: decaying the lr vs increasing the batch at equal examples, on the analytic NQM
# and (run_real.sh) in real training of the Fashion-MNIST MLP on 2 ranks.
# Both simulated arms are batchlab sweeps (exact expected loss): the lr-decay arm is the config as written,
# the batch-increase arm the same config with the step decay replaced by a batch-size schedule
# ([schedule] batch_milestones / batch_factor). Each arm runs once per phase end, so the loss at
# equal examples is read from trials.csv. Seconds for the NQM, ~5 min for the real arm; --quick runs
# the real arm on one seed.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
HERE="$PAPERS_DIR/smith2018_increase_batch"
BIN=$(batchlab_bin sim)
OUT="$HERE/results"; (( QUICK )) && OUT="$HERE/results_quick"
rm -rf "$OUT"
CFG="$REPO/experiments/configs/paper_smith2018_increase_batch.ini"
# lr decay: lr x0.2 at steps 2000 and 4000 (B = 64 throughout); phase ends at 2000, 4000, 6000.
for end in 2000 4000 6000; do
  "$BIN" sweep "$CFG" --output.dir="$OUT/lr_decay_$end" --study.max_steps=$end --no-plot
done
# batch increase: lr 0.5 throughout, B x5 after 128k and 256k examples (64 -> 320 -> 1600);
# the same example counts are reached after 2000, 2400 and 2480 updates.
for end in 2000 2400 2480; do
  "$BIN" sweep "$CFG" --output.dir="$OUT/batch_increase_$end" --study.max_steps=$end --no-plot \
    --schedule.decay=constant --schedule.milestones=none \
    --schedule.batch_milestones=128000,256000 --schedule.batch_factor=5
done
# Real training (batchlab train, 2 ranks): results/real/ with its own timing.json (~5 min).
"$HERE/run_real.sh" "$@"
write_timing "$OUT"
"$PY" "$HERE/report.py" "$OUT"
