#!/usr/bin/env bash
# `batchlab study` with a loss target on a language model: every trial a gpt on a small text
# corpus, stopped once its validation loss is at or below train.target-loss; the study reads the
# test loss (metric test_loss, reached from above) into trials.csv and curves.csv and fits S(B).
#   bash rt_study_lm.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 TMP=$3
fail() { echo "rt_study_lm: FAIL: $*" >&2; exit 1; }
rm -rf "$TMP" && mkdir -p "$TMP"
export BATCHLAB_CACHE_DIR=$TMP/cache

python3 - "$TMP/corpus.txt" <<'EOF'
import random, sys
r = random.Random(5)
words = "the a word of English is defined as meaning and in to old new form noun verb".split()
open(sys.argv[1], "w").write("".join(" ".join(r.choice(words) for _ in range(r.randint(3, 9))) + ".\n"
                                     for _ in range(4000)))
EOF
cat > "$TMP/lm.ini" <<EOF
[study]
name = lm
batch_sizes = 8,32
lr_grid = 3e-3,1e-2
seeds = 0
max_steps = 150
eval_every_examples = 160
[launcher]
threads = 1
[train]
dataset = text
data-dir = $TMP/corpus.txt
model = gpt:1-32-2-16
optimizer = adamw
eval-examples = 32
target-loss = 3.0
loader-threads = 1
[output]
dir = $TMP/out
EOF
timeout 600 "$BIN" study "$TMP/lm.ini" --no-plot > "$TMP/stdout" 2>&1 || fail "study: $(tail -5 "$TMP/stdout")"
python3 - "$TMP/out" <<'EOF' || fail "results"
import csv, json, sys
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
assert s["metric"] == "test_loss" and s["target"] == 3.0, (s["metric"], s["target"])
assert s["metric_direction"] == "reached when test_loss <= target"
rows = list(csv.DictReader(open(f"{d}/trials.csv")))
assert len(rows) == 4, len(rows)
reached = [r for r in rows if r["status"] == "reached"]
assert reached, "no trial reached loss 3.0"
for r in reached:
    assert float(r["final_metric"]) <= 3.0, r   # the final metric is the test loss
    t = json.load(open(f"{d}/trials/trial_{int(r['trial_id']):05d}/summary.json"))
    assert t["target_loss"] == 3.0, t["target_loss"]
    assert abs(t["final_eval_loss"] - float(r["final_metric"])) <= 1e-6 * t["final_eval_loss"], r
curves = list(csv.DictReader(open(f"{d}/curves.csv")))
assert curves and all(c["metric"] == "test_loss" for c in curves), curves[:2]
best = list(csv.DictReader(open(f"{d}/steps_vs_batch.csv")))
assert {int(b["batch_size"]) for b in best} == {8, 32}, best
EOF
grep -q "reached at step [0-9]*, loss 2\.[0-9]*" "$TMP/stdout" || fail "progress lines do not show the loss: $(head -3 "$TMP/stdout")"
echo "rt_study_lm: ok"
