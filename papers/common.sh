# Sourced by papers/*/run.sh (and papers/_shared/*.sh). Finds or builds the batchlab binary,
# times the run, and calls the paper's report.py, which writes the README's numbers from the
# results (never by hand).
#
#   BATCHLAB_BIN=/path/to/batchlab  use this binary instead of building one
#   --quick                         the paper's reduced grid: results and report in results_quick/
#
# A --quick run never touches the paper's committed record (README.md's generated section,
# figure.png, summary.csv): write_timing records the mode in OUT/timing.json, and report.py sends
# its outputs by that mode (papers/_lib.py report_dir and publish): the paper folder for a full run,
# OUT = results_quick/ for a quick one (report.md, figure.png, summary.csv there).
#
# Sets PAPERS_DIR, REPO, PY, QUICK (0|1), HERE (the folder of the script that sourced this one)
# and OUT (HERE/results, or HERE/results_quick with --quick).
set -euo pipefail

PAPERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$PAPERS_DIR")"
PY=/usr/bin/python3  # Debian python3 has numpy + matplotlib (the pyenv one on PATH does not)
HERE="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) echo "usage: $0 [--quick]"; exit 0 ;;
    *) echo "$0: unknown argument '$arg' (usage: $0 [--quick])" >&2; exit 2 ;;
  esac
done
OUT="$HERE/results"; (( QUICK )) && OUT="$HERE/results_quick"

# The binary: $BATCHLAB_BIN, else build/papers/<flavour>/experiments/batchlab, built on demand.
# flavour "sim" needs no LibTorch; "rt" builds the trainer (batchlab train / study).
batchlab_bin() {
  local flavour="${1:-sim}"
  if [[ -n "${BATCHLAB_BIN:-}" ]]; then
    [[ -x "$BATCHLAB_BIN" ]] || { echo "BATCHLAB_BIN='$BATCHLAB_BIN' is not executable" >&2; exit 2; }
    echo "$BATCHLAB_BIN"; return
  fi
  local dir="$REPO/build/papers/$flavour" rt=OFF
  [[ "$flavour" == rt ]] && rt=ON
  if [[ ! -f "$dir/build.ninja" ]]; then
    cmake -S "$REPO" -B "$dir" -G Ninja -DBATCHLAB_WERROR=ON -DBATCHLAB_BUILD_TESTS=OFF \
      -DBATCHLAB_BUILD_REALTRAIN=$rt >&2
  fi
  cmake --build "$dir" --target batchlab -j2 >&2
  echo "$dir/experiments/batchlab"
}

# Wall-clock of the whole run, measured here and written for report.py.
RUN_START_S=$(date +%s.%N)
write_timing() {  # write_timing RESULTS_DIR
  local end_s; end_s=$(date +%s.%N)
  mkdir -p "$1"
  "$PY" - "$1" "$RUN_START_S" "$end_s" "$QUICK" <<'PYEOF'
import json, os, platform, sys
d, t0, t1, quick = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
with open(os.path.join(d, "timing.json"), "w") as f:
    json.dump({"wall_s": t1 - t0, "quick": quick, "host": platform.node(),
               "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]}, f, indent=1)
PYEOF
}

# An empty OUT: every run starts afresh, so its timing is the real cost.
fresh_out() { rm -rf "$OUT"; mkdir -p "$OUT"; }

# The last two steps of every run.sh: the run's wall-clock, then report.py on OUT.
finish() {
  write_timing "$OUT"
  "$PY" "$HERE/report.py" "$OUT"
}

# timed_study_run sweep|study BIN CONFIG OUT_DIR [--key=value ...]: one `batchlab sweep` or
# `batchlab study` (from the repo root, no plots, its output on stderr) into OUT_DIR, for the
# studies several papers share (papers/_shared/). They resume, so a finished one costs nothing the
# second time; OUT_DIR/<sweep|study>_timing.json keeps the wall-clock of the run that did the trials.
timed_study_run() {
  local cmd=$1 bin=$2 cfg=$3 out=$4; shift 4
  local t0 t1; t0=$(date +%s.%N)
  (cd "$REPO" && "$bin" "$cmd" "$cfg" --output.dir="$out" --no-plot "$@" >&2)
  t1=$(date +%s.%N)
  "$PY" - "$out" "$t0" "$t1" "$cmd" <<'PYEOF'
import json, os, sys
d, t0, t1, cmd = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
p = os.path.join(d, cmd + "_timing.json")
prov = json.load(open(os.path.join(d, "summary.json"))).get("provenance", {})
resumed = prov.get("resumed_at_trial", 0)
if resumed == 0 or not os.path.exists(p):  # keep the timing of the run that did the trials
    json.dump({"wall_s": t1 - t0, "resumed_at_trial": resumed, "load_avg_1min": os.getloadavg()[0],
               "cpus": os.cpu_count()}, open(p, "w"), indent=1)
PYEOF
}

# shared_sweep NAME BIN [QUICK_ARG ...]: the whole of a papers/_shared/<NAME>.sh sweep driver
# (large_batch_nqm, large_batch_mlp), sourced with --quick or not: timed_study_run of `batchlab sweep
# experiments/configs/paper_NAME.ini` into papers/_shared/results/NAME, or with --quick into
# papers/_shared/results/NAME_quick with the driver's reduced grid QUICK_ARGs; prints that directory.
shared_sweep() {
  local name=$1 bin=$2; shift 2
  local out="$PAPERS_DIR/_shared/results/$name" extra=()
  if (( QUICK )); then out+="_quick"; extra=("$@"); fi
  timed_study_run sweep "$bin" "$REPO/experiments/configs/paper_$name.ini" "$out" "${extra[@]}"
  echo "$out"
}

# real_studies CONFIG NAME[=ARGS] ...: the whole of a run_real.sh whose real-training part is a few
# `batchlab study CONFIG` runs that differ in a few flags (goyal2017, lin2020): OUT becomes OUT/real,
# emptied; per NAME one study (trainer build, from the repo root, no plots) into OUT/real/NAME with
# that study's ARGS (flags separated by spaces, none containing one) before --output.dir; then
# OUT/real/timing.json with the wall-clock of them all.
real_studies() {
  local cfg=$1 bin spec; shift
  local -a args
  bin=$(batchlab_bin rt)
  OUT="$OUT/real"; fresh_out
  for spec in "$@"; do
    args=(); [[ "$spec" == *=* ]] && read -ra args <<<"${spec#*=}"
    (cd "$REPO" && "$bin" study "$cfg" "${args[@]}" --output.dir="$OUT/${spec%%=*}" --no-plot)
  done
  write_timing "$OUT"
}

# The whole of papers/{you2017_lars,you2019_lamb,nado2021_reality_check}/run.sh: the shared
# large-batch sweeps (_shared/large_batch_nqm.sh, _shared/large_batch_mlp.sh) and real study
# (_shared/real_large_batch.sh), linked into OUT as sweep/, sweep_mlp/ and real/, then report.py.
large_batch_paper() {
  local bin sweep sweep_mlp real
  bin=$(batchlab_bin sim)
  fresh_out
  sweep=$("$PAPERS_DIR/_shared/large_batch_nqm.sh" "$bin" "$QUICK")
  ln -sfn "$sweep" "$OUT/sweep"
  sweep_mlp=$("$PAPERS_DIR/_shared/large_batch_mlp.sh" "$bin" "$QUICK")
  ln -sfn "$sweep_mlp" "$OUT/sweep_mlp"
  # Real training at B = 4096 (~15-20 min here the first time)
  real=$("$PAPERS_DIR/_shared/real_large_batch.sh" "$(batchlab_bin rt)" "$QUICK")
  ln -sfn "$real" "$OUT/real"
  finish
}
