#!/usr/bin/env bash
# A trial job that runs into its Slurm time limit (scripts/slurm-local, started by scripts/test):
# one MLP trial of experiments/configs/ci_slurm_study.ini with launcher.time_limit = 1 (minute),
# sized to need about 110 s on this machine, is killed by Slurm (job state TIMEOUT), submitted
# again, continues from its last checkpoint (its final `batchlab train` ran with --resume) and ends
# with metrics.csv equal to an uninterrupted local run's in every column but img_per_s and wall_s.
# Slurm checks time limits every 30 s, so the first job ends 60 to 90 s after it started (slurm.conf:
# OverTimeLimit=0, KillWait=2); the uninterrupted run goes on the other core meanwhile (~2 min in all).
# Exit 77 (skipped) when no local Slurm answers: scripts/test starts one and fails on skips.
# usage: slurm_timelimit.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -uo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
fail() { echo "slurm_timelimit: FAIL: $*"; exit 1; }
source "$SRC/tests/cli/lib_slurm.sh"
source "$SRC/tests/cli/lib_fmnist.sh"
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH" || exit 1
CFG=$SRC/experiments/configs/ci_slurm_study.ini

# Steps per second of this trial here, from the evaluation rows of a short run (start-up left out).
"$BIN" train --dataset=fashion-mnist --data-dir="$FMNIST" --model=mlp:32 --batch-size=64 --lr=0.05 --steps=2000 \
  --eval-every=500 --threads=1 --loader-threads=1 --output="$SCRATCH/calib" >calib.log 2>&1 || { cat calib.log; fail "calibration run"; }
rate=$(/usr/bin/python3 -c '
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
print((int(r[-1]["step"]) - int(r[0]["step"])) / (float(r[-1]["wall_s"]) - float(r[0]["wall_s"])))' calib/metrics.csv)

# run SECONDS: the one trial, sized to need SECONDS here, as a Slurm job with a 1-minute limit
# (run/) and locally without interruption (local/), at once. Evaluation every ~1/20 of the trial,
# a checkpoint every ~1/50 (what a requeued job keeps).
run() {
  local steps every ckpt
  steps=$(/usr/bin/python3 -c "import math; print(int(math.ceil($1 * $rate / 1000)) * 1000)")
  every=$((steps / 20)) ckpt=$((steps / 50))
  rm -rf run local
  one=(--study.batch_sizes=64 --study.lr_grid=0.05 --study.max_steps="$steps" --study.eval_every_examples=$((every * 64))
    --train.target=0.99 --train.checkpoint-every="$ckpt" --train.data-dir="$FMNIST" --no-plot)
  echo "trial: $steps steps (~$1 s at $rate steps/s), eval every $every, checkpoint every $ckpt"
  "$BIN" study "$CFG" "${one[@]}" --output.dir="$SCRATCH/local" --launcher.scheduler=local >local.log 2>&1 &
  local ref=$!
  timeout 600 "$BIN" study "$CFG" "${one[@]}" --output.dir="$SCRATCH/run" --study.name=slurm_ci_timelimit \
    --launcher.time_limit=1 >run.log 2>&1 || { cat run.log; fail "study with a 1-minute job limit exited $?"; }
  wait $ref || { cat local.log; fail "uninterrupted local run exited $?"; }
}

T=run/trials/trial_00000
run 110
if [[ $(wc -l <$T/jobs.log) == 1 ]]; then  # faster than calibrated: it beat the limit; once more, longer
  run 200
fi
n=$(wc -l <$T/jobs.log)
[[ $n -ge 2 ]] || fail "the trial never hit its time limit ($n job)"
# Every job but the last ended at the time limit (Slurm keeps ended jobs MinJobAge = 300 s). The
# last one COMPLETED, or, when its trial finished within a second or so of the limit on a loaded
# machine, TIMEOUT after job.sh had written job_exit 0 (the kill hit the job's teardown, not the
# trial: the driver takes job_exit as the trial's end, and the metrics are checked below).
last=$(tail -1 $T/jobs.log | cut -d' ' -f1)
while read -r id _; do
  state=$(scontrol show job -o "$id" | grep -o 'JobState=[A-Z_]*')
  if [[ $id != "$last" ]]; then
    [[ $state == JobState=TIMEOUT ]] || fail "job $id: $state, want JobState=TIMEOUT"
  elif [[ $state != JobState=COMPLETED ]]; then
    [[ $state == JobState=TIMEOUT && $(cat $T/job_exit 2>/dev/null) == 0 ]] \
      || fail "job $id (the last): $state with job_exit '$(cat $T/job_exit 2>/dev/null)', want JobState=COMPLETED"
    echo "note: the last job $id ended TIMEOUT after its trial had exited 0 (loaded machine)"
  fi
done <$T/jobs.log
/usr/bin/python3 - local/trials/trial_00000 $T <<'PY' || fail "the requeued trial differs from the uninterrupted run"
import csv, json, sys
a, b = sys.argv[1:]
ma, mb = (list(csv.DictReader(open(d + "/metrics.csv"))) for d in (a, b))
assert len(ma) == len(mb) == 20, (len(ma), len(mb))
for ra, rb in zip(ma, mb):
    for k in ra:
        if k not in ("img_per_s", "wall_s"):
            assert ra[k] == rb[k], (k, ra["step"], ra[k], rb[k])
sb = json.load(open(b + "/summary.json"))
assert "--resume" in sb["provenance"]["argv"], "the last job started over instead of resuming"
assert sb["steps"] == json.load(open(a + "/summary.json"))["steps"]
PY
rows=$(/usr/bin/python3 -c 'import csv; r = list(csv.DictReader(open("run/real_trials.csv"))); print(r[0]["submissions"], r[0]["status"])')
[[ $rows == "$n not_reached" ]] || fail "real_trials.csv: submissions/status '$rows', want '$n not_reached'"
echo "ok: a trial job killed at its 1-minute limit was submitted again ($n jobs) and resumed; metrics equal the uninterrupted run's"
