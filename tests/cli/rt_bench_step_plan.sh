#!/usr/bin/env bash
# `batchlab bench-step` and `batchlab plan` end to end, in CI time (~20 s):
#  - bench-step on the MLP (two small local batches, 1 round) with 1 rank and, under mpirun, 2 ranks:
#    profile.json has the documented keys, the MLP's 269,322 parameters, a compute entry per
#    busy-rank count, and with 2 ranks an all-reduce fit and the overlap points;
#  - plan of the committed real MLP study with the 2-rank profile: plan.csv columns, one row per
#    (K, B), every time equal to steps x step time recomputed here from the profile (measured points
#    between the profiled local batches, alpha + beta b outside),
#    and the recommendations printed; plan of a simulated sweep (no model to check) with explicit
#    --batch-sizes;
#  - bench-step times the update `batchlab train` runs with the same update-rule options: a K-FAC
#    profile (--precondition kfac) and a Shampoo one record their optimizer and preconditioner,
#    Shampoo's larger state, and timed windows that are multiples of --precond-every;
#  - bad input is one line and exit 2 with nothing written: a profile of another model, a profile
#    of another update (K-FAC's for the momentum study), K not dividing B, a non-positive price, a
#    study without a fit, K = 2 with a one-rank profile, and bench-step with one local batch, an
#    unknown model, K-FAC on a model with a layer it does not cover, or a K-FAC damping of 0.
# usage: rt_bench_step_plan.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -uo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH" || exit 1
fail() { echo "rt_bench_step_plan: FAIL: $*"; exit 1; }
STUDY=$SRC/papers/_shared/fmnist_real_study/mlp
BENCH=(bench-step --model mlp --local-batches 32,64 --steps 4 --warmup 1 --rounds 1 --min-time 0
       --threads 1 --loader-threads 1 --data-dir "$data")

timeout 120 "$BIN" "${BENCH[@]}" --output p1.json > b1.out 2>&1 || { cat b1.out; fail "bench-step, 1 rank"; }
mpirun -np 2 --oversubscribe --allow-run-as-root --bind-to none -x OMP_NUM_THREADS=1 \
  timeout 120 "$BIN" "${BENCH[@]}" --message-bytes 4096,1048576 --output p2.json > b2.out 2>&1 \
  || { cat b2.out; fail "bench-step, 2 ranks"; }
/usr/bin/python3 - <<'PY' || fail "profile.json contents"
import json
p1, p2 = json.load(open("p1.json")), json.load(open("p2.json"))
for p in (p1, p2):
    assert p["schema"] == "batchlab.step_profile/1" and p["model"] == "mlp", p["schema"]
    # 784*256+256 + 256*256+256 + 256*10+10, in 6 tensors; momentum keeps one buffer per tensor
    assert p["parameters"] == 269322 and p["parameter_tensors"] == 6, p["parameters"]
    assert p["optimizer_state_values"] == 269322 and p["gradient"]["bytes"] == 4 * 269322
    assert [pt["local_batch"] for pt in p["data"]["points"]] == [32, 64]
    assert "provenance" in p and "load_average" in p
assert [e["ranks"] for e in p1["compute"]] == [1] and p1["allreduce"] == []
assert [e["ranks"] for e in p2["compute"]] == [1, 2]
for e in p2["compute"]:
    assert len(e["points"]) == 2 and all(pt["s"] > 0 for pt in e["points"]) and e["range"] == [32, 64]
ar = p2["allreduce"][0]
assert ar["ranks"] == 2 and [pt["bytes"] for pt in ar["points"]] == [4096, 1048576]
assert len(p2["overlap"]["points"]) == 2 and p2["overlap"]["ranks"] == 2
for p in (p1, p2):
    assert p["optimizer"] == "momentum" and p["precondition"] == "none", (p["optimizer"], p["precondition"])
    assert p["bench"]["updates_per_window_multiple_of"] == 1
print("profiles ok")
PY

# The update of K-FAC + momentum and of Shampoo (one rank): the trainer's options and rule.
timeout 120 "$BIN" "${BENCH[@]}" --precondition kfac --precond-every 3 --kfac-damping 0.01 --output pk.json > bk.out 2>&1 \
  || { cat bk.out; fail "bench-step --precondition kfac"; }
timeout 120 "$BIN" "${BENCH[@]}" --optimizer shampoo --precond-every 5 --output ps.json > bs.out 2>&1 \
  || { cat bs.out; fail "bench-step --optimizer shampoo"; }
/usr/bin/python3 - <<'PY' || fail "K-FAC / Shampoo profile contents"
import json
pk, ps = json.load(open("pk.json")), json.load(open("ps.json"))
assert pk["optimizer"] == "momentum" and pk["precondition"] == "kfac", (pk["optimizer"], pk["precondition"])
assert ps["optimizer"] == "shampoo" and ps["precondition"] == "none", (ps["optimizer"], ps["precondition"])
# each timed window carries the recomputation at its training rate: a multiple of precond-every
assert pk["bench"]["updates_per_window_multiple_of"] == 3 and ps["bench"]["updates_per_window_multiple_of"] == 5
# Shampoo keeps more than momentum's one buffer per tensor (statistics, roots, graft moments)
assert ps["optimizer_state_values"] > ps["parameters"], ps["optimizer_state_values"]
for p in (pk, ps):
    assert p["parameters"] == 269322 and [e["ranks"] for e in p["compute"]] == [1]
    assert all(pt["s"] > 0 for pt in p["compute"][0]["points"])
print("kfac / shampoo profiles ok")
PY

# Plan of the real study: 2 K x 11 measured B.
"$BIN" plan "$STUDY" --profile p2.json --workers 1,2 --device-cost 2.5 --output plan > plan.out 2>plan.err \
  || { cat plan.out plan.err; fail "plan of the MLP study"; }
cat plan.out
grep -q "^momentum:" plan.out && grep -q "fastest" plan.out || fail "no recommendation printed"
/usr/bin/python3 - "$STUDY" <<'PY' || fail "plan.csv contents"
import csv, json, sys
rows = list(csv.DictReader(open("plan/plan.csv")))
assert list(rows[0].keys()) == ["optimizer", "workers", "batch_size", "local_batch", "steps_to_target",
    "steps_source", "step_time_s", "compute_step_s", "comm_step_s", "data_step_s", "comm_fraction",
    "time_to_target_s", "device_hours", "cost", "pareto", "extrapolated"], list(rows[0].keys())
assert len(rows) == 22, len(rows)
study = {int(r["batch_size"]): float(r["steps_to_target"]) for r in csv.DictReader(open(sys.argv[1] + "/steps_vs_batch.csv"))}
prof = json.load(open("p2.json"))
dat, ar, phi = prof["data"], prof["allreduce"][0], prof["overlap"]["fraction"]
def compute_s(c, lb):
    # docs/profile_schema.md: between measured local batches the line through the two measured
    # neighbours, outside them the fitted alpha_c + beta_c b
    pts = sorted((pt["local_batch"], pt["s"]) for pt in c["points"])
    if pts[0][0] <= lb <= pts[-1][0]:
        for (x0, s0), (x1, s1) in zip(pts, pts[1:]):
            if x0 <= lb <= x1:
                return s0 + (s1 - s0) * (lb - x0) / (x1 - x0)
    return c["alpha_s"] + c["beta_s_per_example"] * lb
t_grad = prof["gradient"]["buckets"] * ar["alpha_s"] + ar["beta_s_per_byte"] * prof["gradient"]["bytes"]
for r in rows:
    b, k = int(r["batch_size"]), int(r["workers"])
    assert float(r["steps_to_target"]) == study[b] and r["steps_source"] == "measured"
    assert abs(float(r["device_hours"]) - k * float(r["time_to_target_s"]) / 3600) < 1e-12
    assert abs(float(r["cost"]) - 2.5 * float(r["device_hours"])) < 1e-12
    # the step-time model recomputed from profile.json: entry of k busy ranks at b / k, the
    # exposed gradient all-reduce with 2 ranks, the loader as a lower bound
    c = prof["compute"][k - 1]
    lb = b / k
    step = max(compute_s(c, lb) + (k > 1) * (1 - phi) * t_grad,
               dat["alpha_s"] + dat["beta_s_per_example"] * lb)
    assert abs(float(r["time_to_target_s"]) - study[b] * step) < 1e-9 * study[b] * step, (r, step)
    assert ("local_batch" in r["extrapolated"]) == (lb < 32 or lb > 64), r   # profiled b = 32, 64
    if k == 1:
        assert float(r["comm_fraction"]) == 0, r
j = json.load(open("plan/plan.json"))
assert j["study"]["model"] == "mlp" and j["device_cost_per_hour"] == 2.5
assert set(j["recommendations"]["momentum"]) == {"fastest", "cheapest_within_slowdown"}
print("plan ok:", len(rows), "rows")
PY
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  [[ -s plan/plan.png && -s plan/plan.pdf ]] || fail "plan.png / plan.pdf not written"
fi

# A simulated sweep names no model: any profile is taken as given.
"$BIN" sweep "$SRC/experiments/configs/ci_small.ini" --output.dir="$SCRATCH/sim" --no-plot > sweep.out || fail "sweep"
"$BIN" plan "$SCRATCH/sim" --profile p2.json --workers 1,2 --batch-sizes 16,64,256 --no-plot --output simplan > simplan.out \
  || { cat simplan.out; fail "plan of a sweep"; }
[[ $(($(wc -l < simplan/plan.csv) - 1)) -eq 12 ]] || fail "sweep plan rows: $(wc -l < simplan/plan.csv)"  # 2 optimizers x 2 K x 3 B

# Bad input: one line on stderr, exit 2, no output directory.
bad() {  # bad NAME EXPECTED_TEXT ARGS...
  local name=$1 want=$2; shift 2
  "$BIN" "$@" --output "bad_$name" > "bad_$name.out" 2> "bad_$name.err"
  local rc=$?
  ((rc == 2)) || fail "$name: exit status $rc, expected 2 ($(cat "bad_$name.err"))"
  [[ $(wc -l < "bad_$name.err") -eq 1 ]] || fail "$name: stderr is not one line: $(cat "bad_$name.err")"
  grep -q -- "$want" "bad_$name.err" || fail "$name: stderr '$(cat "bad_$name.err")' lacks '$want'"
  [[ ! -e bad_$name ]] || fail "$name: wrote bad_$name"
  echo "ok: $name -> $(cat "bad_$name.err")"
}
/usr/bin/python3 -c '
import json; p = json.load(open("p2.json")); p["model"] = "simple-cnn"; json.dump(p, open("cnn.json", "w"))'
mkdir -p nofit && cp "$STUDY"/{config.ini,steps_vs_batch.csv} nofit/
/usr/bin/python3 -c '
import json, sys; s = json.load(open(sys.argv[1])); s["optimizers"]["momentum"].update(b_crit=None, s_min=None)
json.dump(s, open("nofit/summary.json", "w"))' "$STUDY/summary.json"
bad other_model "profile is of model 'simple-cnn'" plan "$STUDY" --profile cnn.json
bad k_divides "--workers 3 does not divide --batch-sizes 64" plan "$STUDY" --profile p2.json --workers 1,3 --batch-sizes 64
bad cost_zero "--device-cost 0: must be > 0" plan "$STUDY" --profile p2.json --device-cost 0
bad cost_negative "--device-cost -1: must be > 0" plan "$STUDY" --profile p2.json --device-cost -1
bad no_fit "no fit of S(B)" plan nofit --profile p2.json
bad one_rank_profile "no all-reduce entry" plan "$STUDY" --profile p1.json --workers 1,2
bad other_update "the profile timed optimizer 'momentum' with precondition kfac" plan "$STUDY" --profile pk.json --workers 1
bad other_rule "the profile timed optimizer 'shampoo' with precondition none" plan "$STUDY" --profile ps.json --workers 1
bad one_batch "needs >= 2 batch sizes" bench-step --model mlp --local-batches 8 --data-dir "$data"
bad unknown_model "unknown model 'nope'" bench-step --model nope --data-dir "$data"
bad kfac_layer "train.precondition = kfac: model 'resnet8' has" bench-step --model resnet8 --precondition kfac \
  --local-batches 2,4 --data-dir "$data"
bad kfac_damping "kfac-damping" bench-step --model mlp --precondition kfac --kfac-damping 0 --data-dir "$data"
echo "rt_bench_step_plan: ok"
