#!/usr/bin/env bash
# `batchlab train --precondition kfac` (realtrain/kfac.h) in front of momentum SGD: the MLP
# 784-256-256-10 on Fashion-MNIST (three Linear layers, factors 785/257/257 x 256/256/10) reaches
# 81% test accuracy within 600 steps of batch 128, and a run stopped at a checkpoint and resumed
# ends with the same metrics as the straight run (K-FAC's factors and inverses are restored).
#   bash rt_train_kfac.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
fail() { echo "rt_train_kfac: FAIL: $*"; [[ -f $scratch/stderr ]] && sed 's/^/  stderr: /' "$scratch/stderr"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
common=(train --dataset fashion-mnist --data-dir "$data" --model mlp --batch-size 128 --optimizer momentum
        --precondition kfac --lr 0.001 --momentum 0.9 --precond-every 10 --threads 1 --seed 1)

timeout 600 "$bin" "${common[@]}" --steps 600 --eval-every 100 --target 0.81 --output "$scratch/reach" \
  >"$scratch/stdout" 2>"$scratch/stderr" || fail "exit status $?"
/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["status"] == "reached", s["status"]; print("kfac reached", s["target"], "at step", s["steps_to_target"])' \
  "$scratch/reach/summary.json" || fail "target not reached"

# 60 straight vs 45 + resume to 60: a checkpoint between two inverse recomputations (40, 50)
# and at an evaluation step, so both runs write the same rows.
timeout 300 "$bin" "${common[@]}" --steps 60 --eval-every 15 --output "$scratch/straight" >/dev/null 2>"$scratch/stderr" \
  || fail "straight run"
timeout 300 "$bin" "${common[@]}" --steps 45 --eval-every 15 --checkpoint-every 45 --output "$scratch/resumed" \
  >/dev/null 2>"$scratch/stderr" || fail "first half"
timeout 300 "$bin" "${common[@]}" --steps 60 --eval-every 15 --resume --output "$scratch/resumed" \
  >/dev/null 2>"$scratch/stderr" || fail "resume"
/usr/bin/python3 - "$scratch" <<'PY' || fail "resumed metrics differ"
import csv, sys
d = sys.argv[1]
rows = lambda r: [{k: v for k, v in row.items() if k not in ("img_per_s", "wall_s")}
                  for row in csv.DictReader(open(f"{d}/{r}/metrics.csv"))]
a, b = rows("straight"), rows("resumed")
assert a == b, (a, b)
PY
echo "rt_train_kfac: ok"
