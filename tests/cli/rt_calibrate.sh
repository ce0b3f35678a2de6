#!/usr/bin/env bash
# batchlab calibrate end to end on a small real model (MLP 784-32-10 on Fashion-MNIST):
#  1. a reference run to the study's target (test accuracy 0.75) gives the target loss;
#     calibrating the study at initialisation writes calibration.json (inputs, nqm, predicted,
#     measured, ratios), spectrum.csv, nqm_spectrum.csv and nqm_study/ whose numbers agree with
#     each other (descending eigenvalues, tr(H) >= their sum, the NQM's initial loss = the real
#     initial loss gap, ratios = predicted / measured, one predicted row per batch size);
#  2. at a checkpoint 40 steps in: the point and its (lower) loss are recorded;
#  3. bad input: one stderr line, exit 2, nothing written (checkpoint of another model, top-k
#     above the parameter count, a subset larger than the training set, a reference run that
#     never met the target, a target loss above the initial loss, no target loss, a schedule the
#     analytic NQM cannot run, --compare on a directory that is no study).
# usage: rt_calibrate.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR   (~40 s)
set -u
bin=$1 src=$2 tmp=$3
data=/usr/share/datasets/fashion-mnist
fail() { echo "rt_calibrate: FAIL: $*"; exit 1; }
rm -rf "$tmp" && mkdir -p "$tmp"

cat > "$tmp/study.ini" <<EOF
[study]
name = tiny_mlp
batch_sizes = pow2:4:9
lr_grid = scaled:0.5:2:3
seeds = 0
max_steps = 100
eval_every_examples = 2048
eval_every_max = 20
[launcher]
command =
ranks = 1
threads = 1
[train]
dataset = fashion-mnist
data-dir = $data
model = mlp:32
optimizer = momentum
momentum = 0.9
lr = 0.05
scaling = sqrt
batch-ref = 64
loader-threads = 1
target = 0.75
[output]
dir = $tmp/unused
EOF
train() { "$bin" train --data-dir "$data" --batch-size 64 --optimizer momentum --momentum 0.9 --lr 0.05 \
  --threads 1 --loader-threads 1 --seed 0 "$@" > /dev/null 2>&1 || fail "train $* failed"; }
train --model mlp:32 --steps 2000 --eval-every 20 --target 0.75 --output "$tmp/ref"
train --model mlp:32 --steps 40 --checkpoint-every 40 --output "$tmp/ckpt"
train --model mlp:16 --steps 5 --checkpoint-every 5 --output "$tmp/other"
train --model mlp:32 --steps 5 --eval-every 5 --target 0.99 --output "$tmp/short"

base=(--slq-probes 2 --slq-steps 15 --trace-probes 4 --chunk 256 --no-plot)
small=(--top-k 5 --lanczos-steps 40 --hessian-examples 512 --noise-examples 256 "${base[@]}")
"$bin" calibrate "$tmp/study.ini" "${small[@]}" --reference "$tmp/ref" --output "$tmp/init" \
  --compare "$src/papers/_shared/fmnist_real_study/mlp" > "$tmp/init.out" 2> "$tmp/init.err" || {
  cat "$tmp/init.err"; fail "calibrate at initialisation exited $?"; }
for f in calibration.json spectrum.csv nqm_spectrum.csv nqm_study/steps_vs_batch.csv nqm_study/summary.json nqm_study/trials.csv; do
  [ -s "$tmp/init/$f" ] || fail "missing $f"
done
grep -q "predicted (momentum): B_crit" "$tmp/init.out" || fail "no prediction line: $(cat "$tmp/init.out")"
"$bin" calibrate "$tmp/study.ini" "${small[@]}" --reference "$tmp/ref" --checkpoint "$tmp/ckpt/checkpoint/rank0.pt" \
  --output "$tmp/ckpt_cal" > /dev/null 2> "$tmp/ckpt.err" || { cat "$tmp/ckpt.err"; fail "calibrate at a checkpoint exited $?"; }

python3 - "$tmp" "$src" <<'EOF' || fail "calibration.json checks"
import csv, json, math, sys
tmp, src = sys.argv[1], sys.argv[2]
j = json.load(open(f"{tmp}/init/calibration.json"))
inp, nqm, pred = j["inputs"], j["nqm"], j["predicted"]
n = 784 * 32 + 32 + 32 * 10 + 10
assert inp["parameters"] == n, inp["parameters"]
h = inp["eigenvalues"]
assert len(h) == 5 and all(a >= b for a, b in zip(h, h[1:])) and h[0] > 0, h
assert len(inp["c"]) == 5 and all(c >= 0 for c in inp["c"])
assert inp["trace_h"] >= sum(h) - 4 * inp["trace_h_tail_stderr"], (inp["trace_h"], sum(h))
assert inp["trace_sigma"] > sum(inp["c"]), "tr(Sigma) must exceed its top-k part"
assert abs(sum(inp["slq"]["weights"]) - 1) < 1e-9
assert inp["hessian_examples"] == 512 and inp["noise_examples"] == 256 and inp["dataset_size"] == 60000
assert inp["point"] == {"kind": "initialisation", "step": 0}
loss = inp["loss"]
assert abs(loss["initial"] - math.log(10)) < 0.2, loss  # cross-entropy of an untrained 10-class net
assert 0 < loss["target"] < loss["initial"] and "ref" in loss["target_source"]
assert abs(nqm["initial_loss"] - (loss["initial"] - loss["floor"])) < 1e-9 * loss["initial"], (nqm, loss)
assert nqm["target"] == loss["target"] - loss["floor"]
assert inp["cost"]["hessian_vector_products"] > inp["lanczos"]["steps"] and inp["cost"]["per_example_gradients"] == 256
rows = pred["steps_vs_batch"]
assert [r["batch_size"] for r in rows] == [16, 32, 64, 128, 256, 512], rows
for r in rows:
    if r["status"] == "reached":
        assert r["steps"] >= 1 and r["steps_at_evaluation"] >= r["steps"], r
# the prediction is the engine's: nqm_study/steps_vs_batch.csv has the same best points
svb = list(csv.DictReader(open(f"{tmp}/init/nqm_study/steps_vs_batch.csv")))
assert [float(r["steps_to_target"]) for r in svb if r["status"] == "reached"] == \
       [r["steps"] for r in rows if r["status"] == "reached"]
m = json.load(open(f"{src}/papers/_shared/fmnist_real_study/mlp/summary.json"))["optimizers"]["momentum"]
assert j["measured"]["b_crit"] == m["b_crit"] and j["measured"]["s_min"] == m["s_min"]
if pred["b_crit"] is not None:
    assert abs(j["ratios"]["b_crit"] - pred["b_crit"] / m["b_crit"]) < 1e-12
    assert abs(j["ratios"]["s_min"] - pred["s_min"] / m["s_min"]) < 1e-12
ns = list(csv.DictReader(open(f"{tmp}/init/nqm_spectrum.csv")))
assert sum(r["source"] == "top" for r in ns) == 5 and len(ns) == nqm["dimensions"]
c = json.load(open(f"{tmp}/ckpt_cal/calibration.json"))["inputs"]
assert c["point"]["kind"] == "checkpoint" and c["point"]["step"] == 40, c["point"]
assert c["loss"]["at_point"] < c["loss"]["initial"] - 0.3, c["loss"]
assert c["loss"]["initial"] == loss["initial"], "the initial loss is the study's initialisation either way"
EOF

# ---- bad input ----
expect() {
  local pattern=$1; shift
  "$bin" calibrate "$@" --output "$tmp/bad" >"$tmp/stdout" 2>"$tmp/stderr"
  local status=$?
  ((status == 2)) || fail "'$*': exit $status, expected 2 ($(cat "$tmp/stderr"))"
  (($(wc -l <"$tmp/stderr") == 1)) || fail "'$*': expected one stderr line, got: $(cat "$tmp/stderr")"
  grep -q -- "$pattern" "$tmp/stderr" || fail "'$*': message '$(cat "$tmp/stderr")' lacks '$pattern'"
  [[ ! -e $tmp/bad ]] || fail "'$*': output directory written"
}
ok=("$tmp/study.ini" "${small[@]}" --reference "$tmp/ref")
expect "not a checkpoint of the study's model 'mlp:32'" "${ok[@]}" --checkpoint "$tmp/other/checkpoint/rank0.pt"
expect "no such file" "${ok[@]}" --checkpoint "$tmp/nothing.pt"
expect "top-k = 30000: larger than the 25450 parameters of mlp:32" "$tmp/study.ini" "${base[@]}" --reference "$tmp/ref" \
  --top-k 30000 --lanczos-steps 30000
expect "hessian-examples = 70000: larger than the 60000 training examples" "$tmp/study.ini" "${base[@]}" \
  --reference "$tmp/ref" --hessian-examples 70000
expect "noise-examples = 60001: larger than the 60000 training examples" "$tmp/study.ini" "${base[@]}" \
  --reference "$tmp/ref" --noise-examples 60001
expect "never reached the study's target accuracy 0.75" "$tmp/study.ini" "${small[@]}" --reference "$tmp/short"
expect "is not between the loss floor 0 and the initial loss" "$tmp/study.ini" "${small[@]}" --target-loss 5
expect "the target loss is needed" "$tmp/study.ini" "${small[@]}"
expect "train.schedule = cosine: an lr decay" "${ok[@]}" --train.schedule=cosine
expect "lanczos-steps = 3: must be >= --top-k = 5" "$tmp/study.ini" "${base[@]}" --reference "$tmp/ref" --top-k 5 --lanczos-steps 3
expect "compare $tmp/ref: summary.json" "${ok[@]}" --compare "$tmp/ref"
echo "rt_calibrate: ok"
