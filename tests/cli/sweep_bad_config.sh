#!/usr/bin/env bash
# Every bad sweep config is refused before any work: exit status 2, exactly one line on stderr
# naming the setting, and no output directory created.
# usage: sweep_bad_config.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
fails=0

base() {  # a valid tiny config; $1 = extra lines appended to [study]
  cat <<INI
[landscape]
kind = nqm
dim = 50

[optimizer]
name = sgd,momentum

[study]
mode = analytic
batch_sizes = 4,16
lr_grid = log:0.01:1:4
target = 0.1
max_steps = 100000
$1

[output]
dir = $SCRATCH/out
INI
}

# expect_refused NAME EXPECTED_SUBSTRING CONFIG_TEXT [extra args...]
expect_refused() {
  local name=$1 want=$2 text=$3
  shift 3
  printf '%s\n' "$text" > "$name.ini"
  set +e
  "$BIN" sweep "$name.ini" --no-plot "$@" > "$name.out" 2> "$name.err"
  local rc=$?
  set -e
  local lines
  lines=$(wc -l < "$name.err")
  if [[ $rc -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$want" "$name.err" || [[ -e "$SCRATCH/out" ]]; then
    echo "FAIL $name: rc=$rc stderr_lines=$lines (want 2, 1 line containing '$want', no output dir)"
    cat "$name.err"
    fails=$((fails + 1))
  else
    echo "ok   $name: $(cat "$name.err")"
  fi
}

expect_refused unknown_key "unknown key landscape.colour" "$(base '' | sed 's/^dim = 50/dim = 50\ncolour = red/')"
expect_refused unknown_section "unknown section [trainer]" "$(base '')
[trainer]
epochs = 3"
expect_refused bad_grid "study.lr_grid = 'log:1:0.1:x'" "$(base '' | sed 's/^lr_grid = .*/lr_grid = log:1:0.1:x/')"
expect_refused zero_batch "study.batch_sizes = '0,4'" "$(base '' | sed 's/^batch_sizes = .*/batch_sizes = 0,4/')"
expect_refused negative_batch "study.batch_sizes = '4,-16'" "$(base '' | sed 's/^batch_sizes = .*/batch_sizes = 4,-16/')"
expect_refused unknown_optimizer "unknown optimizer 'adamx'" "$(base '' | sed 's/^name = .*/name = sgd,adamx/')"
expect_refused bad_mode "study.mode = 'exact'" "$(base '' | sed 's/^mode = .*/mode = exact/')"
expect_refused bad_number "landscape.dim = 'fifty'" "$(base '' | sed 's/^dim = 50/dim = fifty/')"
expect_refused momentum_out_of_range "study.momentum_grid = '0.5,1.5'" "$(base 'momentum_grid = 0.5,1.5')"
expect_refused workers_in_analytic "sync.workers = '4'" "$(base '')
[sync]
workers = 4"
expect_refused absolute_grid_with_scaling "scaling.rule = linear" "$(base '')
[scaling]
rule = linear"
expect_refused bad_unused_ema_grid "study.ema_grid = '0.9,1'" "$(base 'ema_grid = 0.9,1')"
expect_refused unknown_override "unknown option '--study.colour=red'" "$(base '')" --study.colour=red
expect_refused bad_override "landscape.dim = '-3'" "$(base '')" --landscape.dim=-3
expect_refused analytic_mlp "only landscape.kind = nqm has an analytic mode" "$(base '' | sed 's/^kind = nqm/kind = mlp/')"
expect_refused unknown_optimizer_section "unknown section [optimizer.adam]" "$(base '')
[optimizer.adam]
beta1 = 0.8"

expect_refused batch_milestones_order "schedule.batch_milestones = '800,400'" "$(base '')
[schedule]
batch_milestones = 800,400
batch_factor = 2"
expect_refused batch_max_below_batch "schedule.batch_max = 8" "$(base '')
[schedule]
batch_milestones = 400
batch_factor = 2
batch_max = 8"
expect_refused batch_lr_coupling "schedule.batch_lr_coupling = 'cubic'" "$(base '')
[schedule]
batch_milestones = 400
batch_factor = 2
batch_lr_coupling = cubic"

# DiLoCo (docs/diloco.md): H < 1, fragments that do not divide H, bits outside the list.
expect_refused diloco_zero_period "H = 0: must be > 0" "$(base '')
[sync]
policy = diloco:0"
expect_refused streaming_fragments "F = 3 must divide H = 8" "$(base '')
[sync]
policy = streaming-diloco:8:3"
expect_refused outer_bits "sync.outer_bits = '5'" "$(base '')
[sync]
policy = diloco:8
outer_bits = 5"
expect_refused outer_rule "sync.outer = 'adam'" "$(base '')
[sync]
policy = diloco:8
outer = adam"
expect_refused diloco_negative_period "H = -2: must be > 0" "$(base '')
[sync]
policy = diloco:-2"
expect_refused streaming_zero_fragments "F = 0: must be > 0" "$(base '')
[sync]
policy = streaming-diloco:8:0"
expect_refused streaming_more_fragments_than_parameters \
  "F = 60 fragments but the landscape has 50 parameters (F must divide H and be at most the parameter count)" "$(base '')
[sync]
policy = streaming-diloco:60:60
workers = 2" --study.mode=sampled
expect_refused outer_rounding "sync.outer_rounding = 'up'" "$(base '')
[sync]
policy = diloco:4
outer_rounding = up"
expect_refused outer_overlap_steps "overlap steps = 4: must be in [1, H)" "$(base '')
[sync]
policy = diloco:4
outer_overlap = true
outer_overlap_steps = 4"

# A missing config file is bad input too.
set +e
"$BIN" sweep "$SCRATCH/nope.ini" 2> missing.err
rc=$?
set -e
if [[ $rc -ne 2 || $(wc -l < missing.err) -ne 1 ]]; then echo "FAIL missing_file rc=$rc"; fails=$((fails + 1)); else echo "ok   missing_file: $(cat missing.err)"; fi

# Resuming into a directory that holds a different study is refused (and leaves it untouched).
base '' > good.ini
"$BIN" sweep good.ini --no-plot > /dev/null 2>&1
before=$(md5sum "$SCRATCH/out/trials.csv")
set +e
"$BIN" sweep good.ini --no-plot --study.target=0.2 > /dev/null 2> resume.err
rc=$?
set -e
if [[ $rc -ne 2 || $(wc -l < resume.err) -ne 1 ]] || ! grep -qF "study.target = '0.1' there, '0.2' here" resume.err \
   || [[ "$(md5sum "$SCRATCH/out/trials.csv")" != "$before" ]]; then
  echo "FAIL different_config_resume rc=$rc"; cat resume.err; fails=$((fails + 1))
else
  echo "ok   different_config_resume: $(cat resume.err)"
fi

[[ $fails -eq 0 ]] || { echo "$fails case(s) failed"; exit 1; }
echo "all bad-config cases refused"
