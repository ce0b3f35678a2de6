#!/usr/bin/env bash
# Several targets from one study (study.targets, issue 11 part 2):
#   1. analytic NQM: every target's rows of steps_vs_batch.csv and trials.csv (target column and
#      wall_s aside) are byte-equal to a one-target study at that target, run separately;
#   2. harder (lower) targets move B_crit up (Zhang et al. 2019), and summary.json has one fit per
#      (optimizer, target) and the power law B_crit(L) = B* / L^(1/alpha_B) with alpha_B > 0;
#   3. sampled NQM: the same per-target equality, crossings read at the evaluations;
#   4. a truncated trials.csv resumes to the same files; `batchlab plot` draws b_crit_vs_target;
#   5. bad input (one target, a repeated or non-positive target): one line, exit 2; study.target
#      beside study.targets is ignored with a warning.
# usage: sweep_targets.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
fail() { echo "FAIL: $*"; exit 1; }

cat > nqm.ini <<INI
[landscape]
kind = nqm
dim = 200

[optimizer]
name = sgd,momentum
momentum = 0.9

[study]
mode = analytic
batch_sizes = 4,16,64,256,1024,4096
lr_grid = log:0.003:3:12
max_steps = 1000000
threads = 2
INI
TARGETS=(0.4 0.1 0.025)

# Rows of a several-target file at target T, without the target column; wall_s (trials.csv
# column 12) aside where asked.
at_target() { awk -F, -v t="$2" 'NR > 1 && $NF == t' "$1" | sed 's/,[^,]*$//'; }
no_wall() { cut -d, -f1-11,13-; }

check_equal() {  # DIR_MULTI PREFIX_SINGLE CONFIG [overrides...]
  local multi=$1 prefix=$2 cfg=$3
  shift 3
  for t in "${TARGETS[@]}"; do
    "$BIN" sweep "$cfg" "$@" --study.target="$t" --output.dir="$prefix$t" --no-plot > /dev/null
    diff <(at_target "$multi/steps_vs_batch.csv" "$t") <(tail -n +2 "$prefix$t/steps_vs_batch.csv") \
      || fail "$cfg: steps_vs_batch.csv at target $t differs from the one-target study"
    diff <(at_target "$multi/trials.csv" "$t" | no_wall) <(tail -n +2 "$prefix$t/trials.csv" | no_wall) > /dev/null \
      || fail "$cfg: trials.csv at target $t differs from the one-target study"
  done
}

# 1. Analytic.
M=$SCRATCH/multi
"$BIN" sweep nqm.ini --study.targets=0.4,0.1,0.025 --output.dir="$M" --no-plot > multi.out
cat multi.out
[[ $(head -1 "$M/steps_vs_batch.csv") == *,trials_diverged,target ]] || fail "steps_vs_batch.csv has no target column"
[[ $(head -1 "$M/trials.csv") == *,lr_multiplier,comm_bytes,target ]] || fail "trials.csv has no target column"
[[ $(($(wc -l < "$M/trials.csv") - 1)) -eq $((2 * 6 * 12 * 3)) ]] || fail "trials.csv: not one row per (trial, target)"
grep -qE '^sgd +0\.025 ' multi.out || fail "fit table has no target column"
check_equal "$M" "$SCRATCH/single_" nqm.ini

# 2. B_crit grows as the target gets harder; one fit per (optimizer, target); the power law.
python3 - "$M/summary.json" <<'PY' || fail "summary.json targets"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["targets"] == [0.4, 0.1, 0.025], s["targets"]
assert len(s["fits"]) == 6, len(s["fits"])
for opt in ("sgd", "momentum"):
    f = {x["target"]: x for x in s["fits"] if x["optimizer"] == opt}
    b = [f[t]["b_crit"] for t in (0.4, 0.1, 0.025)]
    assert b[0] < b[1] < b[2], (opt, b)
    assert s["optimizers"][opt]["b_crit"] == f[0.4]["b_crit"]  # "optimizers" = the first target's fits
    law = s["b_crit_vs_target"][opt]
    assert law["points"] == 3 and law["alpha_b"] > 0 and law["b_star"] > 0, law
PY

# 3. Sampled mode (crossings at the evaluations).
cat > sampled.ini <<INI
[landscape]
kind = nqm
dim = 100

[optimizer]
name = sgd

[study]
mode = sampled
batch_sizes = 4,32,256
lr_grid = log:0.05:1:4
seeds = 0,1
max_steps = 4000
eval_every = 5
threads = 2
INI
TARGETS=(0.4 0.1)
"$BIN" sweep sampled.ini --study.targets=0.4,0.1 --output.dir="$SCRATCH/smulti" --no-plot > /dev/null
check_equal "$SCRATCH/smulti" "$SCRATCH/ssingle_" sampled.ini

# 4. Resume from a truncated trials.csv (whole trials, all their target rows): same files.
cp -r "$M" resumed
head -n $((1 + 3 * 50)) "$M/trials.csv" > resumed/trials.csv
"$BIN" sweep nqm.ini --study.targets=0.4,0.1,0.025 --output.dir="$SCRATCH/resumed" --no-plot > resumed.out 2>&1
grep -q "resuming .*: 50 of 144 trials already done" resumed.out || fail "no resume: $(cat resumed.out)"
cmp -s resumed/steps_vs_batch.csv "$M/steps_vs_batch.csv" || fail "resumed steps_vs_batch.csv differs"
diff <(no_wall < resumed/trials.csv) <(no_wall < "$M/trials.csv") > /dev/null || fail "resumed trials.csv differs"
# Half a trial's rows: refused, not silently mixed.
head -n $((1 + 3 * 50 + 1)) "$M/trials.csv" > part.csv && cp -r "$M" partial && cp part.csv partial/trials.csv
if "$BIN" sweep nqm.ini --study.targets=0.4,0.1,0.025 --output.dir="$SCRATCH/partial" --no-plot > partial.out 2>&1; then
  fail "a trial with rows for only some targets was accepted"
fi
grep -q "rows for only 1 of its 3 targets" partial.out || fail "partial trial message: $(cat partial.out)"
if python3 -c "import matplotlib" 2> /dev/null; then
  "$BIN" plot "$M" > /dev/null || fail "batchlab plot"
  for f in b_crit_vs_target steps_vs_batch lr_vs_batch; do [[ -s $M/$f.png ]] || fail "no $f.png"; done
fi

# 5. Bad input.
bad() {  # EXPECTED_TEXT ARGS...
  local want=$1
  shift
  set +e
  "$BIN" sweep nqm.ini --output.dir="$SCRATCH/bad" --no-plot "$@" > bad.out 2> bad.err
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "$* exited $rc, not 2"
  [[ $(wc -l < bad.err) -eq 1 ]] || fail "$*: not one line: $(cat bad.err)"
  grep -qF "$want" bad.err || fail "$*: $(cat bad.err)"
  [[ ! -e $SCRATCH/bad ]] || fail "$*: wrote output"
}
bad "at least 2 targets" --study.targets=0.1
bad "listed twice" --study.targets=0.1,0.2,0.1
bad "must be > 0" --study.targets=0.1,-0.2
"$BIN" sweep nqm.ini --study.targets=0.4,0.1 --study.target=0.3 --check > /dev/null 2> warn.err || fail "target + targets"
grep -q "study.target = 0.3 is ignored" warn.err || fail "no warning about study.target: $(cat warn.err)"
echo "sweep_targets: ok"
