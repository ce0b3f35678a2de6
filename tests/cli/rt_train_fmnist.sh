#!/usr/bin/env bash
# A short real run: MLP 784-256-256-10 on Fashion-MNIST, momentum SGD, batch 128, must reach
# > 80% test accuracy (evaluated on the full 10k test set) well inside CI time, stop there
# (--target) and write metrics.csv and summary.json with the documented columns and keys.
#   bash rt_train_fmnist.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
fail() { echo "rt_train_fmnist: FAIL: $*"; [[ -f $scratch/stderr ]] && sed 's/^/  stderr: /' "$scratch/stderr"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
out=$scratch/out

start=$(date +%s)
timeout 120 "$bin" train --dataset fashion-mnist --data-dir "$data" --model mlp --batch-size 128 \
  --optimizer momentum --lr 0.05 --momentum 0.9 --steps 1500 --eval-every 100 --target 0.81 \
  --threads 1 --seed 1 --output "$out" >"$scratch/stdout" 2>"$scratch/stderr"
status=$?
elapsed=$(($(date +%s) - start))
((status == 0)) || fail "exit status $status after ${elapsed}s"

[[ -f $out/metrics.csv && -f $out/summary.json ]] || fail "metrics.csv / summary.json missing"
head -1 "$out/metrics.csv" | grep -q '^step,examples,epoch,lr,train_loss,eval_loss,eval_accuracy,img_per_s,b_simple' \
  || fail "metrics.csv header: $(head -1 "$out/metrics.csv")"
/usr/bin/python3 - "$out" <<'PY' || fail "summary/metrics check"
import csv, json, sys
out = sys.argv[1]
s = json.load(open(f"{out}/summary.json"))
rows = list(csv.DictReader(open(f"{out}/metrics.csv")))
assert s["status"] == "reached", s["status"]
assert s["final_accuracy"] > 0.80, s["final_accuracy"]
# stopped at the first evaluation that crossed the target, and says so consistently
assert s["steps_to_target"] == s["steps"] == int(rows[-1]["step"]), (s["steps_to_target"], rows[-1]["step"])
assert all(float(r["eval_accuracy"]) < 0.81 for r in rows[:-1])
assert s["examples_to_target"] == 128 * s["steps_to_target"]
assert int(rows[-1]["examples"]) == 128 * int(rows[-1]["step"])
assert abs(float(rows[-1]["eval_accuracy"]) - s["final_accuracy"]) < 1e-6
assert s["b_simple"] is None and "b_simple_note" in s      # one rank: not measurable
for k in ("compute_s", "communication_s", "data_s"):
    assert s["time_split"][k] >= 0
assert s["img_per_s"] > 0 and s["wall_s"] > 0
p = s["provenance"]
assert p["ranks"] == 1 and p["threads_per_rank"] == 1 and p["argv"][1] == "train"
assert p["torch_version"].startswith("1.") and p["git_sha"]
print(f"reached {s['final_accuracy']:.4f} at step {s['steps_to_target']}, {s['img_per_s']:.0f} img/s")
PY
echo "rt_train_fmnist: ok in ${elapsed}s: $(tail -1 "$scratch/stdout")"
