#!/usr/bin/env bash
# experiments/configs/ci_small.ini end to end: every results file with its documented columns,
# the same rows for threads = 1 and 2 (apart from wall_s), B_crit printed, and
# `batchlab plot` writing PNG + PDF figures.
# usage: sweep_ci_small.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
CFG=$SRC/experiments/configs/ci_small.ini
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" sweep "$CFG" --output.dir="$SCRATCH/t2" --study.threads=2 --no-plot > t2.out
cat t2.out
grep -q "^sgd " t2.out || fail "no B_crit line for sgd"
grep -q "^momentum " t2.out || fail "no B_crit line for momentum"
grep -q "results: $SCRATCH/t2" t2.out || fail "output paths not printed"

D=$SCRATCH/t2
for f in config.ini summary.json trials.csv steps_vs_batch.csv curves.csv; do
  [[ -s $D/$f ]] || fail "missing $f"
done
[[ -z $(ls "$D" | grep '\.tmp$' || true) ]] || fail "temporary files left behind"
[[ $(head -1 "$D/trials.csv") == study,landscape,optimizer,batch_size,lr,momentum,seed,status,steps_to_target,examples_to_target,final_metric,wall_s* ]] \
  || fail "trials.csv header: $(head -1 "$D/trials.csv")"
[[ $(head -1 "$D/steps_vs_batch.csv") == optimizer,batch_size,steps_to_target,examples_to_target,lr,momentum,status,lr_on_edge* ]] \
  || fail "steps_vs_batch.csv header: $(head -1 "$D/steps_vs_batch.csv")"
[[ $(head -1 "$D/curves.csv") == trial_id,step,examples,lr,metric,value ]] || fail "curves.csv header"
# 2 optimizers x 5 batch sizes x 8 lrs x 1 seed trials; one best row per (optimizer, batch size).
[[ $(($(wc -l < "$D/trials.csv") - 1)) -eq 80 ]] || fail "trials.csv rows: $(wc -l < "$D/trials.csv")"
[[ $(($(wc -l < "$D/steps_vs_batch.csv") - 1)) -eq 10 ]] || fail "steps_vs_batch.csv rows"
# No duplicate trial ids.
[[ $(tail -n +2 "$D/trials.csv" | cut -d, -f13 | sort | uniq -d | wc -l) -eq 0 ]] || fail "duplicate trial ids"
# config.ini lists every default, e.g. keys the file never set.
for k in "curvature_power = 1" "trust_coefficient = 0.001" "warmup = none" "policy = sync" "threads = 2"; do
  grep -qF "$k" "$D/config.ini" || fail "config.ini lacks '$k'"
done
# summary.json: per-optimizer fit and provenance.
python3 - "$D/summary.json" <<'PY' || fail "summary.json content"
import json, sys
s = json.load(open(sys.argv[1]))
for opt in ("sgd", "momentum"):
    o = s["optimizers"][opt]
    for k in ("b_crit", "s_min", "e_min", "fit_error", "knee_batch"):
        assert o[k] is not None and o[k] > 0, (opt, k, o[k])
    assert abs(o["e_min"] - o["b_crit"] * o["s_min"]) < 1e-9 * o["e_min"]
    assert abs(o["knee_batch"] - 0.2 * o["b_crit"]) < 1e-9 * o["b_crit"]
p = s["provenance"]
for k in ("argv", "git_sha", "versions", "host", "started_utc", "finished_utc", "seeds"):
    assert k in p, k
assert "eigen" in p["versions"] and "boost" in p["versions"] and "compiler" in p["versions"]
assert s["trials"]["total"] == 80
PY

# Same rows with one thread (wall_s, column 12, aside).
"$BIN" sweep "$CFG" --output.dir="$SCRATCH/t1" --study.threads=1 --no-plot > /dev/null
for f in trials.csv; do
  diff <(cut -d, -f1-11,13- "$SCRATCH/t1/$f") <(cut -d, -f1-11,13- "$D/$f") > /dev/null || fail "threads=1 vs 2: $f differs"
done
diff "$SCRATCH/t1/steps_vs_batch.csv" "$D/steps_vs_batch.csv" > /dev/null || fail "threads=1 vs 2: steps_vs_batch.csv differs"
diff "$SCRATCH/t1/curves.csv" "$D/curves.csv" > /dev/null || fail "threads=1 vs 2: curves.csv differs"

# Figures.
"$BIN" plot "$D" || fail "batchlab plot failed"
for f in steps_vs_batch lr_vs_batch curves; do
  for ext in png pdf; do [[ -s $D/$f.$ext ]] || fail "missing $f.$ext"; done
done
set +e
"$BIN" plot "$SCRATCH/nowhere" 2> plot.err
rc=$?
set -e
[[ $rc -eq 2 && $(wc -l < plot.err) -eq 1 ]] || fail "plot on a missing dir: rc=$rc"
echo "ci_small: all files, columns, thread-count reproducibility and plots ok"
