#!/usr/bin/env bash
# `batchlab train --branch-from` and `--warmup-every` on Fashion-MNIST (mlp:64, Adam, batch 32):
#  - a base run checkpoints at step 60 (an evaluation step); branching it with factors 2,4 over
#    1280 examples writes branches.csv / branch.json with batches 64, 128 and lr 1e-3 x sqrt(k)
#    (Adam: sqrt coupling), and each branch's loss equals that of a run trained straight from the
#    start with the branch's batch schedule (--batch-milestones 1920 --batch-factor k
#    --batch-lr-coupling sqrt), i.e. the branch continues the checkpoint exactly;
#  - a checkpoint of another run (other model, batch size, lr), bad factors / examples / epsilon:
#    one line, exit 2, nothing written;
#  - the warm-up with a tolerance every test passes doubles the batch at every test, and its run's
#    summary.json lists those phases.
#   bash rt_train_branch.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
fail() { echo "rt_train_branch: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
shared=(--data-dir "$FMNIST" --eval-every 20 --eval-examples 1000 --threads 1 --loader-threads 1 --seed 5)
# run MODEL OPTIMIZER LR BATCH: the run's identity (bad input changes one of them)
run() { echo --model "$1" --optimizer "$2" --lr "$3" --batch-size "$4"; }
common=("${shared[@]}" $(run mlp:64 adam 0.001 32))

"$bin" train "${common[@]}" --steps 60 --checkpoint-every 60 --output "$scratch/base" >/dev/null 2>"$scratch/err" \
  || fail "base run: $(cat "$scratch/err")"
"$bin" train "${common[@]}" --branch-from "$scratch/base" --branch-factors 2,4 --branch-examples 1280 \
  --branch-epsilon 0.05 --branch-gap relative --output "$scratch/branched" >"$scratch/branched.out" 2>"$scratch/err" \
  || fail "branching: $(cat "$scratch/err")"
# The k = 2 branch trained straight: 60 steps at 32, then 20 at 64 (1280 examples), lr x sqrt(2).
"$bin" train "${common[@]}" --steps 80 --batch-milestones 1920 --batch-factor 2 --batch-lr-coupling sqrt \
  --output "$scratch/straight2" >/dev/null 2>"$scratch/err" || fail "straight k2: $(cat "$scratch/err")"
/usr/bin/python3 - "$scratch" <<'PY' || fail "branch results"
import csv, json, math, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "branched", "branches.csv"))))
assert [int(r["factor"]) for r in rows] == [2, 4], rows
assert [int(r["batch"]) for r in rows] == [64, 128], rows
assert [int(r["steps"]) for r in rows] == [20, 10], rows
for r in rows:
    assert abs(float(r["lr"]) - 1e-3 * math.sqrt(int(r["factor"]))) < 1e-12, r
    gap = (float(r["loss_branch"]) - float(r["loss_reference"])) / float(r["loss_reference"])
    assert abs(gap - float(r["gap"])) < 1e-9 * max(1, abs(gap)), r
    assert (r["accepted"] == "true") == (float(r["gap"]) <= 0.05), r
j = json.load(open(os.path.join(d, "branched", "branch.json")))
assert j["branch_step"] == 60 and j["branch_examples"] == 1920 and j["batch"] == 32, j
assert j["lr_coupling_from"] == "optimizer adam is Adam-like: sqrt", j["lr_coupling_from"]
ref = json.load(open(os.path.join(d, "branched", "branches", "step60", "reference", "summary.json")))
assert ref["steps"] == 100 and ref["examples"] == 1920 + 1280, ref
assert ref["final_eval_loss"] == j["loss_reference"], (ref["final_eval_loss"], j["loss_reference"])
straight = json.load(open(os.path.join(d, "straight2", "summary.json")))
assert straight["final_eval_loss"] == float(rows[0]["loss_branch"]), (straight["final_eval_loss"], rows[0])
print(f"k2 loss {rows[0]['loss_branch']} == straight run's {straight['final_eval_loss']}")
PY

bad() {  # bad NAME EXPECTED-SUBSTRING ARGS...
  local name=$1 want=$2
  shift 2
  "$bin" train "$@" --output "$scratch/bad_$name" >/dev/null 2>"$scratch/err"
  local rc=$?
  [[ $rc == 2 ]] || fail "$name: exit $rc, want 2 ($(cat "$scratch/err"))"
  [[ $(wc -l <"$scratch/err") == 1 ]] || fail "$name: not one line: $(cat "$scratch/err")"
  grep -qF -- "$want" "$scratch/err" || fail "$name: '$(cat "$scratch/err")' lacks '$want'"
  [[ ! -e $scratch/bad_$name ]] || fail "$name: wrote $scratch/bad_$name"
}
from=(--branch-from "$scratch/base" --branch-factors 2,4 --branch-examples 1280 --branch-epsilon 0.05)
bad model "parameter 0 has shape [64, 784] in the checkpoint, [32, 784] in this run" "${shared[@]}" $(run mlp:32 adam 0.001 32) "${from[@]}"
bad batch "this run's batch size / schedule gives 3840" "${shared[@]}" $(run mlp:64 adam 0.001 64) --branch-from "$scratch/base" \
  --branch-factors 2,4 --branch-examples 2560 --branch-epsilon 0.05
bad lr "used lr 0.001, this run's schedule gives 0.002" "${shared[@]}" $(run mlp:64 adam 0.002 32) "${from[@]}"
bad optimizer "optimizer state" "${shared[@]}" $(run mlp:64 sgd 0.001 32) "${from[@]}"
bad factors "factor 2 does not exceed 4" "${common[@]}" --branch-from "$scratch/base" --branch-factors 4,2 --branch-examples 1280 --branch-epsilon 0.05
bad examples "--branch-examples = 0: must be > 0" "${common[@]}" --branch-from "$scratch/base" --branch-examples 0 --branch-epsilon 0.05
bad epsilon "--branch-epsilon = -1: must be finite and > 0" "${common[@]}" --branch-from "$scratch/base" --branch-factors 2 --branch-examples 640 --branch-epsilon=-1
bad missing "does not exist" "${common[@]}" --branch-from "$scratch/nowhere" --branch-factors 2 --branch-examples 640 --branch-epsilon 0.05

# Warm-up: a tolerance that every test passes (relative gap <= 10) doubles at every test.
"$bin" train "${common[@]}" --warmup-every 640 --warmup-examples 2560 --branch-examples 256 --branch-epsilon 10 \
  --branch-gap relative --output "$scratch/warm" >/dev/null 2>"$scratch/err" || fail "warm-up: $(cat "$scratch/err")"
/usr/bin/python3 - "$scratch/warm" <<'PY' || fail "warm-up results"
import csv, json, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "warmup.csv"))))
assert all(r["accepted"] == "true" for r in rows) and len(rows) == 3, rows
assert [int(r["batch"]) for r in rows] == [32, 64, 128], rows
assert [int(r["examples"]) for r in rows] == [640, 1280, 1920], rows
j = json.load(open(os.path.join(d, "warmup.json")))
assert j["batch_milestones"] == [640, 1280, 1920] and j["batch_factor"] == 2, j
run = json.load(open(os.path.join(d, "run", "summary.json")))
assert [p["batch"] for p in run["batch_phases"]] == [32, 64, 128, 256], run["batch_phases"]
# 2560 examples end inside the batch-256 phase: 3 updates there, 1920 + 768 examples.
assert run["examples"] == j["examples"] == 2688 and run["steps"] == j["steps"] == 20 + 10 + 5 + 3, (run["steps"], j)
assert run["final_eval_loss"] == j["final_loss"]
PY
echo "rt_train_branch: ok: $(grep 'branched critical batch' "$scratch/branched.out")"
