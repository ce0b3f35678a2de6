#!/usr/bin/env bash
# kill -9 in the middle of a study, then the same command again: the study resumes and its files
# have exactly the rows of an uninterrupted run (wall_s aside), none lost, none duplicated.
# usage: sweep_kill_resume.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
fail() { echo "FAIL: $*"; exit 1; }

# A sampled study slow enough (several seconds even on an idle machine) to be killed part-way.
cat > slow.ini <<INI
[landscape]
kind = nqm
dim = 600

[optimizer]
name = sgd,momentum

[study]
mode = sampled
batch_sizes = 4,16,64,256
lr_grid = log:0.01:1:10
seeds = 0,1
target = 0.05
max_steps = 3000
eval_every = 10
record_curves = true
INI
TOTAL=160

"$BIN" sweep slow.ini --output.dir="$SCRATCH/clean" --study.threads=2 --no-plot > /dev/null 2>&1

rows() { if [[ -f $1/trials.csv ]]; then echo $(($(wc -l < "$1/trials.csv") - 1)); else echo 0; fi; }

D=$SCRATCH/killed
for attempt in 1 2; do
  "$BIN" sweep slow.ini --output.dir="$D" --study.threads=2 --no-plot > /dev/null 2>&1 &
  pid=$!
  target=$((attempt * 30))
  for _ in $(seq 1 2000); do
    [[ $(rows "$D") -ge $target ]] && break
    kill -0 $pid 2> /dev/null || break
    sleep 0.02
  done
  kill -9 $pid 2> /dev/null || fail "the study finished before it could be killed (attempt $attempt)"
  wait $pid 2> /dev/null || true
  n=$(rows "$D")
  echo "killed after $n of $TOTAL committed trials"
  [[ $n -lt $TOTAL ]] || fail "nothing left to resume"
done

"$BIN" sweep slow.ini --output.dir="$D" --study.threads=1 --no-plot > resume.out 2> resume.err
grep -q "resuming" resume.err || fail "the rerun did not resume: $(cat resume.err)"
[[ $(rows "$D") -eq $TOTAL ]] || fail "trials.csv has $(rows "$D") rows, want $TOTAL"
[[ $(tail -n +2 "$D/trials.csv" | cut -d, -f13 | sort | uniq -d | wc -l) -eq 0 ]] || fail "duplicate trial ids"
diff <(cut -d, -f1-11,13- "$SCRATCH/clean/trials.csv") <(cut -d, -f1-11,13- "$D/trials.csv") || fail "trials.csv differs from the uninterrupted run"
diff "$SCRATCH/clean/steps_vs_batch.csv" "$D/steps_vs_batch.csv" || fail "steps_vs_batch.csv differs"
diff "$SCRATCH/clean/curves.csv" "$D/curves.csv" > /dev/null || fail "curves.csv differs"
python3 - "$SCRATCH/clean/summary.json" "$D/summary.json" <<'PY' || fail "summary.json fits differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["optimizers"] == b["optimizers"], (a["optimizers"], b["optimizers"])
assert a["trials"] == b["trials"]
assert b["provenance"]["resumed_at_trial"] > 0
PY
echo "kill -9 + resume: identical to the uninterrupted run"
