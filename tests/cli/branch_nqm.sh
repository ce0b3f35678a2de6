#!/usr/bin/env bash
# `batchlab branch` end to end on the analytic NQM (experiments/configs/paper_merrill2025_nqm.ini:
# SGD, batch 8, lr 0.1, d = 10^4): branches.csv and branch.json at one branch point, the estimate
# within a factor 2 of the S(B) bend there (branch.json's analytic_bend, computed by the simulator's
# exact steps to target), lr linear in k (SGD), a stricter epsilon never a larger estimate; several
# branch points give branch_over_training.csv (B_simple grows as the loss falls); the CBS warm-up doubles
# the batch and takes fewer steps than the fixed base batch over the same examples; bad input is one
# line, exit 2, nothing written.
#   bash branch_nqm.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 src=$2 scratch=$3
cfg=$src/experiments/configs/paper_merrill2025_nqm.ini
fail() { echo "branch_nqm: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
branch=(--branch-factors 2,4,8,16,32,64 --branch-examples 40960 --no-plot)

"$bin" branch "$cfg" "${branch[@]}" --branch-at-step 20000 --branch-epsilon 0.5 --output.dir="$scratch/one" \
  >"$scratch/one.out" 2>"$scratch/err" || fail "one branch point: $(cat "$scratch/err")"
"$bin" branch "$cfg" "${branch[@]}" --branch-at-step 20000 --branch-epsilon 0.02 --output.dir="$scratch/strict" \
  >/dev/null 2>"$scratch/err" || fail "strict: $(cat "$scratch/err")"
"$bin" branch "$cfg" "${branch[@]}" --branch-at-step 500,20000 --branch-epsilon 0.5 --output.dir="$scratch/over" \
  >/dev/null 2>"$scratch/err" || fail "over training: $(cat "$scratch/err")"
/usr/bin/python3 - "$scratch" <<'PY' || fail "results"
import csv, json, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "one", "branches.csv"))))
assert [int(r["factor"]) for r in rows] == [2, 4, 8, 16, 32, 64], rows
for r in rows:
    k = int(r["factor"])
    assert int(r["batch"]) == 8 * k and int(r["examples"]) == 40960, r
    assert abs(float(r["lr"]) - 0.1 * k) < 1e-12, r  # SGD: linear coupling
j = json.load(open(os.path.join(d, "one", "branch.json")))
assert j["lr_coupling_from"] == "optimizer sgd is SGD-like: linear", j["lr_coupling_from"]
bc = j["analytic_bend"]["b_crit"]
assert j["analytic_bend"]["bounded"]
assert 0.5 < j["b_branch"] / bc < 2, (j["b_branch"], bc)
strict = json.load(open(os.path.join(d, "strict", "branch.json")))
assert strict["b_branch"] < j["b_branch"], (strict["b_branch"], j["b_branch"])
over = list(csv.DictReader(open(os.path.join(d, "over", "branch_over_training.csv"))))
assert [int(r["step"]) for r in over] == [500, 20000], over
assert float(over[0]["b_simple"]) < float(over[1]["b_simple"]), over
assert os.path.exists(os.path.join(d, "over", "step500", "branches.csv"))
print(f"b_branch {j['b_branch']} vs analytic B_crit {bc:.4g}; strict {strict['b_branch']}")
PY

"$bin" branch "$cfg" --warmup-every 16384 --warmup-examples 262144 --branch-examples 8192 --branch-epsilon 0.5 \
  --no-plot --output.dir="$scratch/warm" >/dev/null 2>"$scratch/err" || fail "warm-up: $(cat "$scratch/err")"
/usr/bin/python3 - "$scratch/warm" <<'PY' || fail "warm-up results"
import csv, json, os, sys
d = sys.argv[1]
j = json.load(open(os.path.join(d, "warmup.json")))
rows = list(csv.DictReader(open(os.path.join(d, "warmup.csv"))))
doubled = [r for r in rows if r["accepted"] == "true"]
assert len(j["batch_milestones"]) == len(doubled) >= 2, (j, rows)
assert [int(r["examples"]) for r in doubled] == j["batch_milestones"], (doubled, j)
assert j["fixed_small"]["batch"] == 8 and j["fixed_large"]["batch"] == j["final_batch"] == 8 * 2 ** len(doubled)
assert j["steps"] < j["fixed_small"]["steps"] and j["steps"] > j["fixed_large"]["steps"], j
assert j["examples"] >= 262144
PY

# Bad input: one line on stderr, exit 2, nothing written.
bad() {  # bad NAME EXPECTED-SUBSTRING ARGS...
  local name=$1 want=$2
  shift 2
  "$bin" branch "$cfg" --output.dir="$scratch/bad_$name" --no-plot "$@" >/dev/null 2>"$scratch/err"
  local rc=$?
  [[ $rc == 2 ]] || fail "$name: exit $rc, want 2 ($(cat "$scratch/err"))"
  [[ $(wc -l <"$scratch/err") == 1 ]] || fail "$name: not one line: $(cat "$scratch/err")"
  grep -qF -- "$want" "$scratch/err" || fail "$name: '$(cat "$scratch/err")' lacks '$want'"
  [[ ! -e $scratch/bad_$name ]] || fail "$name: wrote $scratch/bad_$name"
}
bad factor_one "factor 1 is below 2" --branch-at-step 100 --branch-factors 1,2 --branch-examples 160 --branch-epsilon 0.5
bad decreasing "factors must be strictly increasing" --branch-at-step 100 --branch-factors 4,2 --branch-examples 160 --branch-epsilon 0.5
bad examples "--branch-examples = 0: must be > 0" --branch-at-step 100 --branch-factors 2 --branch-examples 0 --branch-epsilon 0.5
bad epsilon "--branch-epsilon = 0: must be finite and > 0" --branch-at-step 100 --branch-factors 2 --branch-examples 160 --branch-epsilon 0
bad multiple "must be a multiple of the largest branch batch 32" --branch-at-step 100 --branch-factors 2,4 --branch-examples 100 --branch-epsilon 0.5
bad gap "--branch-gap = median: unknown" --branch-at-step 100 --branch-factors 2 --branch-examples 160 --branch-epsilon 0.5 --branch-gap median
bad no_step "--branch-at-step: give the step" --branch-factors 2 --branch-examples 160 --branch-epsilon 0.5
bad two_batches "study.batch_sizes: a branched run needs exactly one value" --branch-at-step 100 --branch-factors 2 \
  --branch-examples 160 --branch-epsilon 0.5 --study.batch_sizes=8,16
echo "branch_nqm: ok: $(grep 'branched critical batch' "$scratch/one.out")"
