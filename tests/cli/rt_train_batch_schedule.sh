#!/usr/bin/env bash
# `batchlab train --batch-milestones/--batch-factor` through the CLI (Smith et al. 2018): the
# batch grows 100 -> 200 -> 400 once 1000 and 2000 examples are done (updates 10 and 15); the
# examples column is the running sum of the batches and summary.json lists the phases; 24 steps
# straight == 12 steps + checkpoint, then --resume to 24 (the second phase change lies after the
# resume point, the first before it), metrics columns 1-7 row for row.
#   bash rt_train_batch_schedule.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
fail() { echo "rt_train_batch_schedule: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
common=(--data-dir "$data" --model mlp:64 --batch-size 100 --optimizer momentum --lr 0.05
        --batch-milestones 1000,2000 --batch-factor 2 --eval-every 6 --threads 1 --seed 3)

"$bin" train "${common[@]}" --steps 24 --output "$scratch/straight" >/dev/null 2>"$scratch/err" || fail "straight run: $(cat "$scratch/err")"
"$bin" train "${common[@]}" --steps 12 --checkpoint-every 12 --output "$scratch/resumed" >/dev/null 2>"$scratch/err" || fail "first half: $(cat "$scratch/err")"
"$bin" train "${common[@]}" --steps 24 --resume --output "$scratch/resumed" >/dev/null 2>"$scratch/err" || fail "resume: $(cat "$scratch/err")"

# steps 6, 12, 18, 24: 6 x 100; 1000 + 2 x 200; 2000 + 3 x 400; 2000 + 9 x 400
want=$'6,600\n12,1400\n18,3200\n24,5600'
got=$(tail -n +2 "$scratch/straight/metrics.csv" | cut -d, -f1-2)
[[ $got == "$want" ]] || fail "step,examples columns: got $(echo $got), want $(echo $want)"
diff <(cut -d, -f1-7 "$scratch/straight/metrics.csv") <(cut -d, -f1-7 "$scratch/resumed/metrics.csv") \
  || fail "metrics differ between the straight and the resumed run"
/usr/bin/python3 - "$scratch/straight/summary.json" <<'PY' || fail "summary.json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["examples"] == 5600, j["examples"]
assert [p["batch"] for p in j["batch_phases"]] == [100, 200, 400], j["batch_phases"]
assert [p["first_step"] for p in j["batch_phases"]] == [0, 10, 15], j["batch_phases"]
assert j["config"]["batch-factor"] == 2 and j["config"]["batch-milestones"] == "1000,2000"
PY
echo "rt_train_batch_schedule: ok: $(tail -1 "$scratch/resumed/metrics.csv" | cut -d, -f1-7)"
