#!/usr/bin/env bash
# The calibrated arm (issue 11): the NQM built from the measured Hessian and gradient-noise spectra
# of the two real Fashion-MNIST studies (papers/_shared/fmnist_real_study: the MLP to test accuracy
# 0.85, B_crit 859; the Simple CNN to 0.90, B_crit 269) predicts their S(B) with `batchlab
# calibrate`, measured at the initialisation and at checkpoints of the studies' B = 128 run (its
# reference run, which also gives the loss at the target); calibrated_report.py writes the README's
# calibrated section, figure_calibrated.png and summary_calibrated.csv.
# Full run: ~1 h here (2 shared cores; the CNN's Hessian-vector products dominate).
# --quick: the MLP at its 11% checkpoint only, smaller subsets (a few minutes), into
# results_calibrated_quick/ (report.md there; the committed record is left as it is).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
OUT="$HERE/results_calibrated"; (( QUICK )) && OUT+="_quick"
fresh_out
DATA=/usr/share/datasets/fashion-mnist
STUDIES="$PAPERS_DIR/_shared/fmnist_real_study"

# train NAME MODEL ARGS...: one `batchlab train` run of the studies' B = 128 trial (momentum 0.9,
# lr 0.03, seed 0: the first seed of both studies, so the same initialisation) into OUT/NAME.
train() {
  local name=$1 model=$2; shift 2
  "$BIN" train --dataset fashion-mnist --data-dir "$DATA" --model "$model" --batch-size 128 --optimizer momentum \
    --momentum 0.9 --lr 0.03 --threads 1 --loader-threads 1 --seed 0 --output "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
}
# calibrate NAME CONFIG STUDY REF ARGS...: `batchlab calibrate` of the study CONFIG into OUT/NAME.
calibrate() {
  local name=$1 cfg=$2 study=$3 ref=$4; shift 4
  (cd "$REPO" && "$BIN" calibrate "$cfg" --reference "$OUT/$ref" --compare "$study" --output "$OUT/$name" "$@" \
    > "$OUT/$name.log" 2>&1)
}
ckpt() { echo "--checkpoint=$OUT/$1/checkpoint/rank0.pt"; }

# MLP: the study's B = 128 trial evaluates every 64 steps and reaches 0.85 at step 576; checkpoints
# at 64 (11%) and 288 (50%) steps.
MLP_CFG=experiments/configs/real_fmnist_mlp.ini
MLP=(--top-k 20 --lanczos-steps 100 --slq-probes 4 --slq-steps 40 --trace-probes 8 --hessian-examples 4096
     --noise-examples 2048)
train mlp_ref mlp --steps 7500 --eval-every 64 --target 0.85
train mlp_ck64 mlp --steps 64 --eval-every 64 --checkpoint-every 64
if (( QUICK )); then
  calibrate mlp_at64 "$MLP_CFG" "$STUDIES/mlp" mlp_ref "$(ckpt mlp_ck64)" --top-k 10 --lanczos-steps 60 \
    --slq-probes 2 --slq-steps 30 --trace-probes 4 --hessian-examples 1024 --noise-examples 512
else
  train mlp_ck288 mlp --steps 288 --eval-every 288 --checkpoint-every 288
  calibrate mlp_at0 "$MLP_CFG" "$STUDIES/mlp" mlp_ref "${MLP[@]}"
  calibrate mlp_at64 "$MLP_CFG" "$STUDIES/mlp" mlp_ref "${MLP[@]}" "$(ckpt mlp_ck64)"
  calibrate mlp_at288 "$MLP_CFG" "$STUDIES/mlp" mlp_ref "${MLP[@]}" "$(ckpt mlp_ck288)"

  # Simple CNN: evaluation every 128 steps at B = 128, 0.90 at step 896; checkpoint at 96 (11%).
  # Its Hessian-vector products cost ~40x the MLP's: top 10, a 1024-example subset, 4 x 30 SLQ.
  CNN_CFG=experiments/configs/real_fmnist_simple_cnn.ini
  CNN=(--top-k 10 --lanczos-steps 60 --slq-probes 4 --slq-steps 30 --trace-probes 6 --hessian-examples 1024
       --noise-examples 1024 --chunk 256)
  train cnn_ref simple-cnn --steps 7500 --eval-every 128 --target 0.90
  train cnn_ck96 simple-cnn --steps 96 --eval-every 96 --checkpoint-every 96
  calibrate cnn_at96 "$CNN_CFG" "$STUDIES/simple_cnn_90" cnn_ref "${CNN[@]}" "$(ckpt cnn_ck96)"
  calibrate cnn_at0 "$CNN_CFG" "$STUDIES/simple_cnn_90" cnn_ref "${CNN[@]}"
fi
write_timing "$OUT"
"$PY" "$HERE/calibrated_report.py" "$OUT"
