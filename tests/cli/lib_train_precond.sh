# Sourced by rt_train_shampoo.sh and rt_train_kfac.sh: a preconditioned `batchlab train` on the
# MLP 784-256-256-10 (Fashion-MNIST, batch 128, momentum 0.9, preconditioner refreshed every 10
# updates) reaches 81% test accuracy within 600 steps, and a run stopped at a checkpoint and
# resumed ends with the same metrics as the straight run (the preconditioner's statistics and
# inverses are restored). The caller sets `name` (the test's) and `arm` (its optimizer options).
#   precond_train_test BATCHLAB_BIN SCRATCH_DIR
precond_train_test() {
  local bin=$1 scratch=$2
  source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
  fail() { echo "$name: FAIL: $*"; [[ -f $scratch/stderr ]] && sed 's/^/  stderr: /' "$scratch/stderr"; exit 1; }
  rm -rf "$scratch" && mkdir -p "$scratch"
  local common=(train --dataset fashion-mnist --data-dir "$FMNIST" --model mlp --batch-size 128 "${arm[@]}"
                --momentum 0.9 --precond-every 10 --threads 1 --seed 1)

  timeout 600 "$bin" "${common[@]}" --steps 600 --eval-every 100 --target 0.81 --output "$scratch/reach" \
    >"$scratch/stdout" 2>"$scratch/stderr" || fail "exit status $?"
  /usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["status"] == "reached", s["status"]; print(sys.argv[2], "reached", s["target"], "at step", s["steps_to_target"])' \
    "$scratch/reach/summary.json" "$name" || fail "target not reached"

  # 60 straight vs 45 + resume to 60: a checkpoint between two preconditioner refreshes (40, 50)
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
  echo "$name: ok"
}
