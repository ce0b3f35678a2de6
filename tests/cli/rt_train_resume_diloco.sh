#!/usr/bin/env bash
# `batchlab train --resume` of a DiLoCo run (docs/diloco.md#checkpoints-and---resume): the
# checkpoint carries the outer state (theta, outer momentum, the fragment in flight, the byte and
# error counters), so a resumed run's metrics.csv equals the uninterrupted run's in every column
# but the timings (img_per_s, wall_s), comm_bytes included, and so does summary.json's diloco
# block. streaming-diloco:4:2 with 4-bit stochastic rounding and overlap (tau = 1): fragment 1 is
# sent after update 14 and lands after 15, so a checkpoint at 14 holds it in flight. Then
#   - the same on 2 MPI ranks (each rank its own checkpoint: its theta_m at the send differs);
#   - plain diloco:5 stopped inside a round (checkpoint at 7, outer momentum from the round at 5);
#   - a resume under another layout (F = 4) or another sync policy is refused, naming both.
#   bash rt_train_resume_diloco.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
fail() { echo "rt_train_resume_diloco: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
stream=(--sync streaming-diloco:4:2 --outer-bits 4 --outer-rounding stochastic --outer-overlap
        --outer-overlap-steps 1)
common=(--data-dir "$data" --model mlp:32 --batch-size 64 --optimizer adamw --lr 0.003 --eval-every 5
        --eval-examples 500 --threads 1 --seed 5)
root_flag=()
[[ $(id -u) == 0 ]] && root_flag=(--allow-run-as-root)
train() {  # NAME RANKS ARGS...: one run, its stderr kept for the failure message
  local name=$1 ranks=$2
  shift 2
  local launch=()
  ((ranks > 1)) && launch=(timeout 300 mpiexec -np "$ranks" --oversubscribe "${root_flag[@]}" -x OMP_NUM_THREADS=1)
  "${launch[@]}" "$bin" train "${common[@]}" "$@" >/dev/null 2>"$scratch/err" || fail "$name: $(cat "$scratch/err")"
}
untimed() {  # metrics.csv without its timing columns, found by header name
  awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) drop[i] = ($i == "img_per_s" || $i == "wall_s") }
           { out = ""; n = 0; for (i = 1; i <= NF; ++i) if (!drop[i]) out = out (n++ ? "," : "") $i; print out }' "$1"
}
outer_block() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["diloco"])' "$1/summary.json"; }
same_run() {  # WHAT STRAIGHT_DIR RESUMED_DIR ROWS
  local rows
  rows=$(wc -l <"$3/metrics.csv")
  ((rows == $4 + 1)) || fail "$1: expected header + $4 rows, got $rows lines"
  diff <(untimed "$2/metrics.csv") <(untimed "$3/metrics.csv") ||
    fail "$1: metrics (all but img_per_s, wall_s) differ between the straight and the resumed run"
  [[ "$(outer_block "$2")" == "$(outer_block "$3")" ]] ||
    fail "$1: summary.json diloco differs: $(outer_block "$2") vs $(outer_block "$3")"
  awk -F, 'NR > 1 && $NF > 0 { found = 1 } END { exit !found }' "$3/metrics.csv" || fail "$1: no bytes counted"
}

# 1. One rank (DiLoCo runs its outer step on one rank too), stopped at 20, checkpoint at 14.
for ranks in 1 2; do
  s=$scratch/r$ranks
  train "straight ($ranks ranks)" "$ranks" "${stream[@]}" --steps 30 --output "$s/straight"
  train "stopped ($ranks ranks)" "$ranks" "${stream[@]}" --steps 20 --checkpoint-every 14 --output "$s/resumed"
  for ((r = 0; r < ranks; ++r)); do [[ -f $s/resumed/checkpoint/rank$r.pt ]] || fail "no checkpoint of rank $r"; done
  train "resumed ($ranks ranks)" "$ranks" "${stream[@]}" --steps 30 --checkpoint-every 14 --resume --output "$s/resumed"
  same_run "streaming, $ranks rank(s), fragment in flight at the checkpoint" "$s/straight" "$s/resumed" 6
done

# 2. Plain diloco:5, outer Nesterov (momentum from the round at 5), checkpoint at 7 inside a round.
train "diloco straight" 1 --sync diloco:5 --steps 20 --output "$scratch/d_straight"
train "diloco stopped" 1 --sync diloco:5 --steps 12 --checkpoint-every 7 --output "$scratch/d_resumed"
train "diloco resumed" 1 --sync diloco:5 --steps 20 --checkpoint-every 7 --resume --output "$scratch/d_resumed"
same_run "diloco:5 stopped inside a round" "$scratch/d_straight" "$scratch/d_resumed" 4

# 3. Refused: another layout, another policy (and the checkpoint stays as it was).
ck=$scratch/r1/resumed/checkpoint/rank0.pt
before=$(md5sum <"$ck")
refused() {  # PATTERN ARGS...
  local pattern=$1
  shift
  if "$bin" train "${common[@]}" "$@" --steps 30 --resume --output "$scratch/r1/resumed" >/dev/null 2>"$scratch/err"; then
    fail "resume with $* was accepted"
  fi
  grep -q -- "$pattern" "$scratch/err" || fail "resume with $*: message '$(cat "$scratch/err")' lacks '$pattern'"
  [[ "$(md5sum <"$ck")" == "$before" ]] || fail "resume with $* changed the checkpoint"
}
refused "saved with N = .*, H = 4, F = 2, bits = 4, overlap 1, this run has .*F = 4" \
  --sync streaming-diloco:4:4 --outer-bits 4 --outer-rounding stochastic --outer-overlap --outer-overlap-steps 1
refused "holds DiLoCo outer state, but train.sync = local:4" --sync local:4
echo "rt_train_resume_diloco: ok: $(untimed "$scratch/r2/resumed/metrics.csv" | tail -1)"
