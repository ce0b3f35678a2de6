#!/usr/bin/env bash
# batchlab study with the local launcher, launcher.parallel = 2 (MLP on Fashion-MNIST, 4 trials):
#  1. two `batchlab train` children run at once;
#  2. one of them killed (SIGKILL, as the kernel's OOM killer would): that trial is marked failed
#     (trials.csv status, real_trials.csv failure -> its failure.txt with the reason and train.log's
#     tail, summary.json trials.failed) and left out of the fit, the other three run to their end,
#     and the study exits 3 after the fit with one line saying how many trials failed;
#  3. the same command again resumes: nothing reruns, still exit 3.
# usage: rt_study_failed.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
source "$(dirname "${BASH_SOURCE[0]}")/lib_study.sh" "$@"
write_tiny_ini "$TMP/tiny.ini" 0.05,0.2 3000
# long enough to catch two trials running (a few seconds each), the target out of reach
args=("$TMP/tiny.ini" --output.dir="$TMP/p" --launcher.parallel=2 --study.eval_every_examples=64000
  --train.target=0.99 --no-plot)

# ---- 1. two trials at once ----
"$BIN" study "${args[@]}" > "$TMP/p.out" 2> "$TMP/p.err" &
driver=$!
kids=()
for _ in $(seq 1 600); do
  mapfile -t kids < <(pgrep -P $driver)
  [ ${#kids[@]} -ge 2 ] && break
  sleep 0.1
done
[ ${#kids[@]} -ge 2 ] || { cat "$TMP/p.err"; fail "never two trials at once (children: ${kids[*]})"; }

# ---- 2. one trial's child killed, once it is training (it has said so in its train.log) ----
for _ in $(seq 1 600); do
  [ -s "$TMP/p/trials/trial_00001/train.log" ] && break
  sleep 0.1
done
victim=""
for k in "${kids[@]}"; do
  if tr '\0' ' ' < /proc/$k/cmdline | grep -q -- "--output=$TMP/p/trials/trial_00001"; then victim=$k; fi
done
[ -n "$victim" ] || fail "trial 1 is not among the running children"
kill -9 "$victim"
set +e
wait $driver
rc=$?
set -e
[ $rc = 3 ] || { cat "$TMP/p.err"; fail "study exit $rc, want 3 (finished with failed trials)"; }
grep -q '^batchlab study: 1 of 4 trials failed' "$TMP/p.err" || { cat "$TMP/p.err"; fail "no closing line on the failed trial"; }
grep -q 'B_crit' "$TMP/p.out" || fail "no fit table"
python3 - "$TMP/p" <<'EOF'
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/trials.csv")))
assert [r["status"] for r in rows] == ["not_reached", "failed", "not_reached", "not_reached"], [r["status"] for r in rows]
assert rows[1]["steps_to_target"] == "-1" and rows[1]["final_metric"] == "nan", rows[1]
real = list(csv.DictReader(open(f"{d}/real_trials.csv")))
assert real[1]["status"] == "failed" and real[1]["failure"] == "trials/trial_00001/failure.txt", real[1]
assert all(r["failure"] == "" and int(r["steps"]) == 3000 for i, r in enumerate(real) if i != 1), real
text = open(f"{d}/{real[1]['failure']}").read().splitlines()
assert text[0] == "batchlab train exited with status 137", text[0]
assert text[1].startswith("--- last ") and text[1].endswith(" lines of train.log ---"), text
assert any(t.startswith("batchlab train: model mlp:32") for t in text[2:]), text
s = json.load(open(f"{d}/summary.json"))
assert s["trials"]["failed"] == 1 and s["trials"]["not_reached"] == 3, s["trials"]
svb = {r["batch_size"]: r for r in csv.DictReader(open(f"{d}/steps_vs_batch.csv"))}
assert svb["64"]["trials"] == "1" and svb["128"]["trials"] == "2", svb
EOF
echo "ok: a killed trial is marked failed with its log's tail; the study goes on and exits 3"

# ---- 3. resume: the failed row stays, nothing reruns ----
set +e
"$BIN" study "${args[@]}" > /dev/null 2> "$TMP/p2.err"
rc=$?
set -e
[ $rc = 3 ] || { cat "$TMP/p2.err"; fail "resume exit $rc, want 3"; }
grep -q 'resuming .*4 of 4 trials already done' "$TMP/p2.err" || { cat "$TMP/p2.err"; fail "resume reran trials"; }
echo "rt_study_failed: ok"
