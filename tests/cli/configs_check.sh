#!/usr/bin/env bash
# Every committed experiments/configs/*.ini passes `--check` (batchlab study for configs with a
# [launcher] or [train] section, batchlab sweep for the others): exit 0, a grid of > 0 trials,
# and nothing written (no output dir, nothing in the cwd). The cluster configs pass although
# their data dir, GPU and srun are not here, and say so under "not checked"; a real run of one
# is still refused (exit 2). A broken copy of a config (unknown key, bad lr_grid) is one line
# and exit 2 under --check; --check of an existing output dir reads it and changes nothing.
# usage: configs_check.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# `batchlab study` exists only in a build with the trainer (BATCHLAB_BUILD_REALTRAIN).
have_study=0
if "$BIN" --help | grep -q '^  study '; then have_study=1; fi

# run_check NAME CMD ARGS...: runs `batchlab CMD ARGS...` in the empty dir $SCRATCH/cwd_NAME;
# sets rc, and leaves stdout / stderr in $SCRATCH/NAME.out / .err.
run_check() {
  local name=$1
  shift
  mkdir -p "$SCRATCH/cwd_$name"
  set +e
  (cd "$SCRATCH/cwd_$name" && "$BIN" "$@") > "$SCRATCH/$name.out" 2> "$SCRATCH/$name.err"
  rc=$?
  set -e
}

# The cwd and the output dir stay empty / absent.
nothing_written() {
  local name=$1 out=$2
  [[ -z "$(ls -A "$SCRATCH/cwd_$name")" ]] || { fail "$name: --check wrote into its cwd: $(ls -A "$SCRATCH/cwd_$name")"; return; }
  [[ ! -e "$out" ]] || fail "$name: --check created the output dir $out"
}

configs=("$SRC"/experiments/configs/*.ini)
(( ${#configs[@]} > 0 )) || { echo "FAIL no configs in $SRC/experiments/configs"; exit 1; }
checked=0
for ini in "${configs[@]}"; do
  name=$(basename "$ini" .ini)
  cmd=sweep
  if grep -qE '^\[(launcher|train)\]' "$ini"; then cmd=study; fi
  if [[ $cmd == study && $have_study == 0 ]]; then
    echo "skip $name: batchlab study is not in this build"
    continue
  fi
  out="$SCRATCH/out/$name"
  run_check "$name" "$cmd" "$ini" --check --no-plot --output.dir="$out"
  n=$(sed -n 's/^trials: *\([0-9][0-9]*\) .*/\1/p' "$SCRATCH/$name.out")
  if [[ $rc -ne 0 ]]; then
    fail "$name: batchlab $cmd --check exited $rc: $(cat "$SCRATCH/$name.err")"
    continue
  fi
  [[ -n "$n" && "$n" -gt 0 ]] || fail "$name: no 'trials: N' line with N > 0 in the --check output"
  grep -qF "batchlab $cmd --check: $ini: valid" "$SCRATCH/$name.out" || fail "$name: no 'valid' line"
  grep -qF "output dir:     $out: does not exist" "$SCRATCH/$name.out" || fail "$name: output dir line is not '$out: does not exist ...'"
  nothing_written "$name" "$out"
  if [[ $cmd == study ]]; then
    grep -qE "^first trial: .* train .*--batch-size=[0-9]+ .*--output=$out/trials/trial_00000" "$SCRATCH/$name.out" ||
      fail "$name: no 'first trial:' command line with train, --batch-size and the trial dir"
    grep -qE '^train argv: +--' "$SCRATCH/$name.out" || fail "$name: no 'train argv:' line"
    # A data dir that is not on this machine is reported, not refused.
    data_dir=$(sed -n 's/^data-dir *= *//p' "$ini")
    if [[ -n "$data_dir" && ! -d "$data_dir" ]]; then
      grep -qF "train.data-dir = $data_dir does not exist here" "$SCRATCH/$name.out" ||
        fail "$name: --check does not say that data dir $data_dir was not checked"
    fi
    if grep -qE '^backend *= *nccl' "$ini"; then
      grep -qF "train.backend = nccl needs a CUDA device" "$SCRATCH/$name.out" || fail "$name: nccl GPU not listed under not checked"
    fi
  fi
  echo "ok   $name: batchlab $cmd --check: $n trials"
  checked=$((checked + 1))
done
(( checked > 0 )) || fail "no config was checked"

# Without --output.dir the config's own (relative) output dir is not created either.
run_check auto_dir sweep "$SRC/experiments/configs/ci_small.ini" --check
[[ $rc -eq 0 ]] || fail "auto_dir: exit $rc: $(cat "$SCRATCH/auto_dir.err")"
nothing_written auto_dir "$SCRATCH/cwd_auto_dir/results"

# expect_refused NAME WANT CMD ARGS...: exit 2, one line on stderr containing WANT, nothing written.
expect_refused() {
  local name=$1 want=$2
  shift 2
  run_check "$name" "$@"
  local lines
  lines=$(wc -l < "$SCRATCH/$name.err")
  if [[ $rc -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$want" "$SCRATCH/$name.err"; then
    fail "$name: rc=$rc stderr_lines=$lines (want 2, one line containing '$want'): $(cat "$SCRATCH/$name.err")"
  else
    echo "ok   $name: $(cat "$SCRATCH/$name.err")"
  fi
  nothing_written "$name" "$SCRATCH/out/$name"
}

# Broken copies of committed configs.
sed 's/^\[study\]/[study]\ncolour = red/' "$SRC/experiments/configs/ci_small.ini" > "$SCRATCH/sweep_unknown_key.ini"
expect_refused sweep_unknown_key "unknown key study.colour" \
  sweep "$SCRATCH/sweep_unknown_key.ini" --check --output.dir="$SCRATCH/out/sweep_unknown_key"
sed 's/^lr_grid *=.*/lr_grid = log:1:0.1:x/' "$SRC/experiments/configs/nqm_zhang2019.ini" > "$SCRATCH/sweep_bad_lr_grid.ini"
expect_refused sweep_bad_lr_grid "study.lr_grid = 'log:1:0.1:x'" \
  sweep "$SCRATCH/sweep_bad_lr_grid.ini" --check --output.dir="$SCRATCH/out/sweep_bad_lr_grid"
if [[ $have_study == 1 ]]; then
  sed 's/^lr_grid *=.*/lr_grid = log:1:0.1:x/' "$SRC/experiments/configs/real_fmnist_mlp.ini" > "$SCRATCH/study_bad_lr_grid.ini"
  expect_refused study_bad_lr_grid "study.lr_grid = 'log:1:0.1:x'" \
    study "$SCRATCH/study_bad_lr_grid.ini" --check --output.dir="$SCRATCH/out/study_bad_lr_grid"
  sed 's/^\[train\]/[train]\nwarmpu = gradual/' "$SRC/experiments/configs/real_imagenet_resnet50.ini" > "$SCRATCH/study_unknown_key.ini"
  expect_refused study_unknown_key "train.warmpu" \
    study "$SCRATCH/study_unknown_key.ini" --check --output.dir="$SCRATCH/out/study_unknown_key"
  # A bad [train] value is caught by the trainer's own validation, trial by trial, under --check too.
  sed 's/^backend *=.*/backend = gloo/' "$SRC/experiments/configs/real_cifar10_resnet20.ini" > "$SCRATCH/study_bad_backend.ini"
  expect_refused study_bad_backend "backend" \
    study "$SCRATCH/study_bad_backend.ini" --check --output.dir="$SCRATCH/out/study_bad_backend"
  # A real run of a cluster config is still refused here when its data dir is missing.
  if [[ ! -d /data/imagenet ]]; then
    expect_refused study_cluster_run "train.data-dir = /data/imagenet: directory does not exist" \
      study "$SRC/experiments/configs/real_imagenet_resnet50.ini" --no-plot --output.dir="$SCRATCH/out/study_cluster_run"
  fi
fi

# --check of an existing output dir: the resume check runs (a different study is exit 2), the
# dir is only read.
(cd "$SCRATCH" && "$BIN" sweep "$SRC/experiments/configs/ci_small.ini" --no-plot --study.threads=1 \
  --output.dir="$SCRATCH/done" > done.out 2> done.err) || fail "ci_small run: $(cat "$SCRATCH/done.err")"
before=$(cd "$SCRATCH/done" && find . -type f -exec md5sum {} + | sort)
run_check resume_same sweep "$SRC/experiments/configs/ci_small.ini" --check --output.dir="$SCRATCH/done"
total=$(sed -n 's/^trials: *\([0-9][0-9]*\) .*/\1/p' "$SCRATCH/resume_same.out")
if [[ $rc -ne 0 ]] || ! grep -qF "holds this study with $total of $total trials in trials.csv" "$SCRATCH/resume_same.out"; then
  fail "resume_same: rc=$rc, want 0 and 'holds this study with $total of $total trials': $(cat "$SCRATCH/resume_same.out" "$SCRATCH/resume_same.err")"
else
  echo "ok   resume_same: $(grep '^output dir' "$SCRATCH/resume_same.out")"
fi
expect_refused resume_other "holds a different study" \
  sweep "$SRC/experiments/configs/ci_small.ini" --check --study.seeds=7 --output.dir="$SCRATCH/done"
after=$(cd "$SCRATCH/done" && find . -type f -exec md5sum {} + | sort)
[[ "$before" == "$after" ]] || fail "--check changed the files of an existing output dir"

if (( fails > 0 )); then
  echo "$fails failure(s)"
  exit 1
fi
echo "all configs pass --check ($checked checked)"
