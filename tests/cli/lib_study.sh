# Shared setup of the `batchlab study` CLI tests (rt_study.sh, rt_study_reuse.sh); sourced, not
# run (tests/CMakeLists.txt registers every other tests/cli/*.sh as a test):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib_study.sh" "$@"   # BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
# sets BIN, SRC, TMP (emptied) and FMNIST (lib_fmnist.sh: skips the test without the dataset),
# and `set -euo pipefail`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
BIN=$1
SRC=$2
TMP=$3
rm -rf "$TMP"
mkdir -p "$TMP"

fail() { echo "FAIL: $*" >&2; exit 1; }

# write_tiny_ini FILE LR_GRID MAX_STEPS: MLP on Fashion-MNIST, B = 64, 128, one seed, target
# test accuracy 0.5, evaluated every 1280 examples, 1 rank x 1 thread.
write_tiny_ini() {
  cat > "$1" <<EOF
[study]
name = tiny
batch_sizes = 64,128
lr_grid = $2
seeds = 0
max_steps = $3
eval_every_examples = 1280
[launcher]
threads = 1
[train]
data-dir = $FMNIST
model = mlp:32
target = 0.5
loader-threads = 1
EOF
}

# write_sweep_ini FILE: a simulated NQM sweep of 4 trials (milliseconds), curves recorded.
write_sweep_ini() {
  cat > "$1" <<EOF
[landscape]
kind = nqm
dim = 10
[study]
batch_sizes = 4,8
lr_grid = 0.1,0.2
max_steps = 100
record_curves = true
EOF
}

# run_bad NAME PATTERN ARGS...: `batchlab study ARGS` exits 2 with one line on stderr that
# contains PATTERN (a fixed string).
run_bad() {
  local name=$1 pat=$2
  shift 2
  set +e
  "$BIN" study "$@" > "$TMP/bad.out" 2> "$TMP/bad.err"
  local rc=$?
  set -e
  [ $rc = 2 ] || { cat "$TMP/bad.err"; fail "$name: exit $rc, want 2"; }
  [ "$(wc -l < "$TMP/bad.err")" = 1 ] || { cat "$TMP/bad.err"; fail "$name: not one line"; }
  grep -qF -- "$pat" "$TMP/bad.err" || { cat "$TMP/bad.err"; fail "$name: no '$pat' in message"; }
}

# expect_bad NAME PATTERN ARGS...: run_bad into a fresh output dir, which is never written.
expect_bad() {
  local name=$1 pat=$2
  shift 2
  run_bad "$name" "$pat" "$@" --output.dir="$TMP/bad_$name" --no-plot
  [ ! -e "$TMP/bad_$name" ] || fail "$name: wrote output"
}
