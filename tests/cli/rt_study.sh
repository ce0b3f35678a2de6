#!/usr/bin/env bash
# batchlab study end to end on real training (MLP on Fashion-MNIST, tiny budget, target 0.5):
#  1. a 2 batch sizes x 2 lrs study writes the files and columns of a simulated sweep, one
#     progress line per trial, and its rows agree with each trial's own summary.json;
#  1b. study.targets on real training: the hardest target's rows equal the one-target study's;
#  2. kill -9 in the middle of a study, rerun from its resolved config.ini (under another
#     launcher.command): resumes (no duplicate, no missing row), and the results equal those of
#     the uninterrupted study (wall times aside);
#  3. bad input: one line on stderr, exit 2, nothing written.
# usage: rt_study.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
source "$(dirname "${BASH_SOURCE[0]}")/lib_study.sh" "$@"
write_tiny_ini "$TMP/tiny.ini" 0.05,0.2 40

# ---- 1. the study, and the files/columns of a sweep ----
"$BIN" study "$TMP/tiny.ini" --output.dir="$TMP/a" --no-plot > "$TMP/a.out" 2> "$TMP/a.err" || {
  cat "$TMP/a.err"; fail "study exited $?"; }
for f in config.ini summary.json trials.csv steps_vs_batch.csv curves.csv real_trials.csv; do
  [ -s "$TMP/a/$f" ] || fail "missing $f"
done
[ "$(grep -c '^\[[0-9]*/4\]' "$TMP/a.err")" = 4 ] || { cat "$TMP/a.err"; fail "expected 4 progress lines"; }
grep -q 'ETA' "$TMP/a.err" || fail "progress lines without ETA"
grep -q 'B_crit' "$TMP/a.out" || fail "no fit table"

write_sweep_ini "$TMP/sweep.ini"
"$BIN" sweep "$TMP/sweep.ini" --output.dir="$TMP/s" --no-plot > /dev/null 2>&1 || fail "reference sweep failed"
for f in trials.csv steps_vs_batch.csv curves.csv; do
  [ "$(head -1 "$TMP/a/$f")" = "$(head -1 "$TMP/s/$f")" ] || fail "$f columns differ from a sweep's"
done
python3 - "$TMP/a" "$TMP/s" <<'EOF'
import csv, json, os, sys
a, s = sys.argv[1], sys.argv[2]
ra, rs = json.load(open(f"{a}/summary.json")), json.load(open(f"{s}/summary.json"))
missing = [k for k in rs if k not in ra and k not in ("mode",)]
assert not missing, f"summary.json lacks sweep keys {missing}"
assert set(ra["optimizers"]["momentum"]) >= set(rs["optimizers"]["sgd"]), "per-optimizer keys differ"
assert "noise_scale" in ra, "no noise_scale in summary.json"
rows = list(csv.DictReader(open(f"{a}/trials.csv")))
assert [int(r["trial_id"]) for r in rows] == [0, 1, 2, 3], rows
assert [int(r["batch_size"]) for r in rows] == [64, 64, 128, 128]
assert [float(r["lr"]) for r in rows] == [0.05, 0.2, 0.05, 0.2]
assert rows[0]["landscape"] == "fashion-mnist/mlp:32"
for r in rows:
    t = json.load(open(f"{a}/trials/trial_{int(r['trial_id']):05d}/summary.json"))
    assert r["status"] == t["status"], (r, t["status"])
    want = t["steps_to_target"] if t["status"] == "reached" else -1
    assert int(r["steps_to_target"]) == want, (r, want)
    assert t["config"]["batch-size"] == int(r["batch_size"]) and abs(t["config"]["lr"] - float(r["lr"])) < 1e-12
    assert t["config"]["steps"] == 40
    # eval every ceil(1280 / B) steps: 20 at 64, 10 at 128
    assert t["config"]["eval-every"] == 1280 // int(r["batch_size"])
assert any(r["status"] == "reached" for r in rows), "no trial reached 0.5 test accuracy in 40 steps"
EOF

# ---- 1b. several targets on real training: the hardest one (train.target) equals the one-target
#      study's rows, the easier one is reached no later ----
"$BIN" study "$TMP/tiny.ini" --study.targets=0.3,0.5 --output.dir="$TMP/m" --no-plot > "$TMP/m.out" 2>&1 || {
  cat "$TMP/m.out"; fail "several-target study exited $?"; }
python3 - "$TMP/a" "$TMP/m" <<'EOF'
import csv, sys
a, m = sys.argv[1], sys.argv[2]
one = list(csv.DictReader(open(f"{a}/steps_vs_batch.csv")))
multi = list(csv.DictReader(open(f"{m}/steps_vs_batch.csv")))
hard = [{k: v for k, v in r.items() if k != "target"} for r in multi if float(r["target"]) == 0.5]
assert hard == one, f"target 0.5 rows differ from the one-target study: {hard} vs {one}"
easy = {r["batch_size"]: r for r in multi if float(r["target"]) == 0.3}
for r in one:
    if r["status"] == "reached":
        assert easy[r["batch_size"]]["status"] == "reached"
        assert int(easy[r["batch_size"]]["steps_to_target"]) <= int(r["steps_to_target"]), (easy, r)
EOF

# ---- 2. kill -9 mid-study, then resume ----
"$BIN" study "$TMP/tiny.ini" --output.dir="$TMP/b" --no-plot > /dev/null 2> "$TMP/b1.err" &
pid=$!
for _ in $(seq 1 600); do  # until the first trial is committed (<= 60 s)
  [ -f "$TMP/b/trials.csv" ] && [ "$(wc -l < "$TMP/b/trials.csv")" -ge 2 ] && break
  sleep 0.1
done
kill -9 $pid 2> /dev/null || true
wait $pid 2> /dev/null || true
rows_before=$(($(wc -l < "$TMP/b/trials.csv") - 1))
[ "$rows_before" -ge 1 ] && [ "$rows_before" -lt 4 ] || fail "kill landed outside the study ($rows_before rows)"
# The rerun starts its children under another launcher (env as a do-nothing prefix): how trials
# are launched is not part of the study's identity, so it still resumes. It reads the resolved
# config.ini the killed study wrote (every setting, empty and default ones included), which must
# be the same study.
"$BIN" study "$TMP/b/config.ini" --output.dir="$TMP/b" --launcher.command=env --no-plot > /dev/null 2> "$TMP/b2.err" || {
  cat "$TMP/b2.err"; fail "resume failed"; }
grep -q "resuming" "$TMP/b2.err" || fail "rerun did not say it resumed"
[ "$(grep -c '^\[[0-9]*/4\]' "$TMP/b2.err")" = $((4 - rows_before)) ] || fail "rerun did not skip the finished trials"
python3 - "$TMP/a" "$TMP/b" <<'EOF'
import csv, sys
def rows(d, f, drop):
    return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(open(f"{d}/{f}"))]
a, b = sys.argv[1], sys.argv[2]
tb = rows(b, "trials.csv", ())
ids = [r["trial_id"] for r in tb]
assert ids == ["0", "1", "2", "3"], f"duplicate or missing rows: {ids}"
assert rows(a, "trials.csv", ("wall_s",)) == rows(b, "trials.csv", ("wall_s",)), "resumed results differ"
assert rows(a, "curves.csv", ()) == rows(b, "curves.csv", ()), "resumed curves differ"
assert rows(a, "steps_vs_batch.csv", ()) == rows(b, "steps_vs_batch.csv", ())
EOF

# ---- 3. bad input: one line, exit 2, nothing written ----
printf '[study]\nbatch_size = 4\n' > "$TMP/unknown.ini"
expect_bad unknown_key "batch_size" "$TMP/unknown.ini"
expect_bad bad_model "vgg" "$TMP/tiny.ini" --train.model=vgg
expect_bad bad_optimizer "adamax" "$TMP/tiny.ini" --study.optimizers=momentum,adamax
expect_bad per_trial_key "train.batch-size" "$TMP/tiny.ini" --train.batch-size=64
expect_bad no_data "data-dir" "$TMP/tiny.ini" --train.data-dir="$TMP/nowhere"
expect_bad ranks "launcher.command" "$TMP/tiny.ini" --launcher.ranks=2
expect_bad launcher "not an executable" "$TMP/tiny.ini" --launcher.command=no-such-mpirun
expect_bad no_target "train.target" "$TMP/tiny.ini" --train.target=-1
expect_bad missing_file "cannot open" "$TMP/none.ini"
# a directory holding another study's results is refused
run_bad other_study "holds a different study: study.max_steps" "$TMP/tiny.ini" --study.max_steps=41 \
  --output.dir="$TMP/a" --no-plot
echo "rt_study: ok"
