#!/usr/bin/env bash
# batchlab study with launcher.scheduler = slurm against a real Slurm (scripts/slurm-local, started
# by scripts/test): experiments/configs/ci_slurm_study.ini (4 MLP trials, 2 jobs in flight):
#   1. every trial once in trials.csv, one job each, two trials overlapping in time;
#   2. the driver SIGKILLed while its jobs run and restarted with the same command: no trial
#      submitted twice (jobs.log), rows complete and equal to run 1's;
#   3. a trial's job cancelled mid-run (on_cancel = requeue): submitted again, resumed from its
#      checkpoint (its last batchlab train ran with --resume), and its metrics.csv equals an
#      uninterrupted local run's in every column but img_per_s and wall_s;
#   4. with on_cancel = fail, a cancelled job's trial is marked failed, and so is a trial whose
#      trainer crashed (SIGKILL), each with failure.txt (the reason, the job's stderr tail): the
#      other trials run to their end and the study exits 3;
#   5. bad input (no Slurm reachable, parallel 0, a time limit Slurm would not take): one line,
#      exit 2, nothing submitted.
# Exit 77 (skipped) when no local Slurm answers: scripts/test starts one and fails on skips.
# usage: slurm_study.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -uo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
fail() { echo "slurm_study: FAIL: $*"; exit 1; }
source "$SRC/tests/cli/lib_slurm.sh"
source "$SRC/tests/cli/lib_fmnist.sh"
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH" || exit 1
CFG=$SRC/experiments/configs/ci_slurm_study.ini
study() { "$BIN" study "$CFG" --train.data-dir="$FMNIST" --no-plot "$@"; }

# rows of trials.csv without wall_s, sorted
rows() { /usr/bin/python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for r in sorted(rows, key=lambda r: int(r["trial_id"])):
    print(",".join(v for k, v in r.items() if k not in ("wall_s", "study")))' "$1/trials.csv"; }

# ---- 1. a study as Slurm jobs, two at a time
study --output.dir="$SCRATCH/run1" --study.name=slurm_ci_a >run1.log 2>&1 || { cat run1.log; fail "run 1 exited $?"; }
[[ $(rows run1 | wc -l) == 4 ]] || fail "run 1: $(rows run1 | wc -l) rows, want 4"
/usr/bin/python3 - run1 <<'PY' || fail "run 1: jobs"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/real_trials.csv")))
assert len(rows) == 4 and all(r["submissions"] == "1" for r in rows), [r["submissions"] for r in rows]
assert len({r["job_id"] for r in rows}) == 4
spans = [(float(r["start_time"]), float(r["end_time"])) for r in rows]
overlap = any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1:])
assert overlap, spans
PY
echo "ok: 4 trials as 4 Slurm jobs, two running at once"

# ---- 2. the driver killed while two jobs run, then restarted
# (the binary itself in the background, not a shell function: $! must be the driver's pid)
"$BIN" study "$CFG" --train.data-dir="$FMNIST" --no-plot --output.dir="$SCRATCH/run2" --study.name=slurm_ci_b >run2a.log 2>&1 &
driver=$!
for ((i = 0; i < 300; ++i)); do
  [[ $(squeue -h -n batchlab-slurm_ci_b -t RUNNING | wc -l) -ge 2 ]] && break
  sleep 0.2
done
[[ $(squeue -h -n batchlab-slurm_ci_b -t RUNNING | wc -l) -ge 2 ]] || { cat run2a.log; fail "run 2: two jobs never ran at once"; }
kill -9 $driver; wait $driver 2>/dev/null
study --output.dir="$SCRATCH/run2" --study.name=slurm_ci_b >run2b.log 2>&1 || { cat run2b.log; fail "run 2 restart exited $?"; }
for j in run2/trials/*/jobs.log; do
  [[ $(wc -l <"$j") == 1 ]] || fail "run 2: $j has $(wc -l <"$j") submissions (resubmitted after the restart)"
done
# Slurm's own count (it keeps ended jobs MinJobAge = 300 s): 4 jobs of this study, no more.
n=$(scontrol show job -o | grep -c 'JobName=batchlab-slurm_ci_b ')
[[ $n == 4 ]] || fail "run 2: Slurm ran $n jobs named batchlab-slurm_ci_b, want 4"
[[ $(ls run2/trials | wc -l) == 4 ]] || fail "run 2: $(ls run2/trials | wc -l) trial dirs"
diff <(rows run1) <(rows run2) >/dev/null || { diff <(rows run1) <(rows run2); fail "run 2's rows differ from run 1's"; }
echo "ok: driver SIGKILLed with 2 jobs running and restarted: no job submitted twice, rows as run 1"

# ---- 3. a job cancelled mid-trial: submitted again, resumed exactly
one=(--study.batch_sizes=64 --study.lr_grid=0.05 --study.max_steps=600 --train.target=0.99)
study "${one[@]}" --output.dir="$SCRATCH/local" --launcher.scheduler=local >local.log 2>&1 || { cat local.log; fail "local run"; }
"$BIN" study "$CFG" --train.data-dir="$FMNIST" --no-plot "${one[@]}" --output.dir="$SCRATCH/run3" --study.name=slurm_ci_c >run3.log 2>&1 &
driver=$!
ckpt=run3/trials/trial_00000/checkpoint/rank0.pt
for ((i = 0; i < 600; ++i)); do [[ -e $ckpt ]] && break; sleep 0.1; done
[[ -e $ckpt ]] || fail "run 3: no checkpoint appeared"
scancel -n batchlab-slurm_ci_c
wait $driver || { cat run3.log; fail "run 3 exited $?"; }
[[ $(wc -l <run3/trials/trial_00000/jobs.log) == 2 ]] || fail "run 3: $(wc -l <run3/trials/trial_00000/jobs.log) submissions, want 2"
/usr/bin/python3 -c 'import json, sys; assert "--resume" in json.load(open(sys.argv[1]))["provenance"]["argv"]' \
  run3/trials/trial_00000/summary.json || fail "run 3: the resubmitted job started over instead of resuming"
/usr/bin/python3 - local/trials/trial_00000/metrics.csv run3/trials/trial_00000/metrics.csv <<'PY' || fail "run 3: metrics differ from the uninterrupted run"
import csv, sys
a, b = (list(csv.DictReader(open(f))) for f in sys.argv[1:])
skip = {"img_per_s", "wall_s"}
assert len(a) == len(b), (len(a), len(b))
for ra, rb in zip(a, b):
    for k in ra:
        if k not in skip:
            assert ra[k] == rb[k], (k, ra["step"], ra[k], rb[k])
PY
echo "ok: a cancelled trial job was submitted again and resumed; metrics equal the uninterrupted run's"

# ---- 4. trials that fail: one job cancelled with on_cancel = fail, one trainer killed (a crash)
long=(--study.max_steps=4000 --study.eval_every_examples=64000 --train.target=0.99)
"$BIN" study "$CFG" --train.data-dir="$FMNIST" --no-plot "${long[@]}" --output.dir="$SCRATCH/run4" \
  --study.name=slurm_ci_d --launcher.on_cancel=fail >run4.log 2>&1 &
driver=$!
t0=run4/trials/trial_00000 t1=run4/trials/trial_00001
for ((i = 0; i < 600; ++i)); do
  [[ -e $t0/job_start && -e $t1/job_start && -e $t0/checkpoint/rank0.pt && -e $t1/checkpoint/rank0.pt ]] && break
  sleep 0.1
done
[[ -e $t1/checkpoint/rank0.pt ]] || { cat run4.log; fail "run 4: trials 0 and 1 never ran at once"; }
scancel "$(cut -d' ' -f1 $t0/jobs.log)"
# trial 1's batchlab train (not the srun that started it), found by its own output dir
victim=$(pgrep -f -- "^[^ ]*/batchlab train .*--output=$SCRATCH/$t1( |$)")
[[ $(wc -w <<<"$victim") == 1 ]] || fail "run 4: trial 1's trainer: pids '$victim'"
kill -9 "$victim"
wait $driver; rc=$?
[[ $rc == 3 ]] || { cat run4.log; fail "run 4: exit $rc, want 3 (the study goes on, some trials failed)"; }
grep -q '2 of 4 trials failed' run4.log || { cat run4.log; fail "run 4: no closing line on the failed trials"; }
/usr/bin/python3 - run4 <<'PY' || { cat run4.log; fail "run 4: failed trials"; }
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/real_trials.csv")))
assert [r["status"] for r in rows] == ["failed", "failed", "not_reached", "not_reached"], [r["status"] for r in rows]
assert [r["submissions"] for r in rows] == ["1"] * 4, [r["submissions"] for r in rows]  # a failed trial is not retried
f0, f1 = (open(d + "/" + r["failure"]).read().splitlines() for r in rows[:2])
assert f0[0].startswith("job ") and f0[0].endswith(" was cancelled (launcher.on_cancel = fail)"), f0
assert f1[0].startswith("batchlab train exited with status ") and "lines of job.out ---" in f1[1], f1
assert any("batchlab train: model mlp:32" in line for line in f1[2:]), f1  # the job's stderr tail
assert json.load(open(d + "/summary.json"))["trials"]["failed"] == 2
trials = {r["trial_id"]: r["status"] for r in csv.DictReader(open(d + "/trials.csv"))}
assert trials == {"0": "failed", "1": "failed", "2": "not_reached", "3": "not_reached"}, trials
PY
echo "ok: a cancelled job (on_cancel = fail) and a crashed trainer mark their trials failed; the study goes on, exit 3"

# ---- 5. bad input: one line, exit 2, nothing submitted
bad() {
  local pat=$1
  shift
  "$@" >bad.out 2>bad.err
  local rc=$?
  [[ $rc == 2 && $(wc -l <bad.err) == 1 ]] && grep -qF -- "$pat" bad.err || { cat bad.err; fail "bad input '$pat': exit $rc"; }
  [[ ! -e $SCRATCH/bad ]] || fail "bad input '$pat' wrote $SCRATCH/bad"
}
bad "launcher.parallel" study --output.dir="$SCRATCH/bad" --launcher.parallel=0
bad "launcher.time_limit" study --output.dir="$SCRATCH/bad" --launcher.time_limit=1h
bad "launcher.on_cancel" study --output.dir="$SCRATCH/bad" --launcher.on_cancel=maybe
bad "Slurm is not reachable" env SLURM_CONF=/nonexistent/slurm.conf "$BIN" study "$CFG" --train.data-dir="$FMNIST" --output.dir="$SCRATCH/bad"
echo "ok: bad launcher settings and no Slurm are one line, exit 2"
"$BIN" study "$CFG" --train.data-dir="$FMNIST" --launcher.time_limit=5 --train.checkpoint-every=0 --check \
  >check.out 2>check.err || { cat check.err; fail "--check with a time limit and no checkpoints exited $?"; }
grep -q 'warning: launcher.time_limit = 5 and train.checkpoint-every = 0' check.err || { cat check.err; fail "no warning"; }
echo "ok: a time limit without checkpoints is warned about"
