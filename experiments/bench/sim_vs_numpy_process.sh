#!/usr/bin/env bash
# The simulator against numpy as whole processes: `batchlab sweep` of the analytic NQM grid of
# experiments/bench/nqm_numpy.py (experiments/bench/nqm_numpy_grid.ini: sgd and precond x 10
# batch sizes x 160 lrs, d = 1e4, 3200 trials) and `python3 nqm_numpy.py` of the same grid,
# each timed from exec to exit (start-up, config parsing, validation and results files
# included), alternating in every round so that load from other jobs hits both alike. Checks
# that every trial agrees (status and steps to target; #wrong must be 0) and prints per round
# the wall and CPU (user + sys) seconds of both and their ratio, then the medians.
#
#   experiments/bench/sim_vs_numpy_process.sh [--rounds N] [--batchlab PATH] [--python PATH]
#
# batchlab defaults to build/release/experiments/batchlab, else build/ci/experiments/batchlab;
# python to /usr/bin/python3 (with numpy). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for
# numpy, as for nqm_numpy.py's own benchmark (they slow it on this machine; it makes no BLAS
# call). The sweep runs with its default thread count (study.threads = 0: every core).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=3
batchlab=""
python=/usr/bin/python3
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --batchlab) batchlab=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    *) echo "sim_vs_numpy_process.sh: unknown argument '$1' (--rounds N, --batchlab PATH, --python PATH)" >&2; exit 2 ;;
  esac
done
if [ -z "$batchlab" ]; then
  for b in "$root/build/release/experiments/batchlab" "$root/build/ci/experiments/batchlab"; do
    [ -x "$b" ] && { batchlab=$b; break; }
  done
fi
[ -x "$batchlab" ] || { echo "sim_vs_numpy_process.sh: no batchlab executable (build it, or --batchlab PATH)" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "sim_vs_numpy_process.sh: --rounds = '$rounds': must be >= 1" >&2; exit 2; }
config=$here/nqm_numpy_grid.ini
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# timed OUT CMD...: runs CMD with stdout to OUT.log and appends "wall cpu" seconds to OUT.times.
timed() {
  local out=$1
  shift
  local TIMEFORMAT='%3R %3U %3S' t
  t=$( { time "$@" > "$out.log" 2>&1; } 2>&1 ) || { cat "$out.log" >&2; echo "sim_vs_numpy_process.sh: $* failed" >&2; exit 1; }
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<< "$t" >> "$out.times"
}

echo "# $0 --rounds $rounds --batchlab $batchlab --python $python"
echo "# git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown); host $(hostname); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# numpy $("$python" -c 'import numpy; print(numpy.__version__)'); 3200 trials per run"
printf "%-6s %12s %12s %12s %12s %10s %10s\n" round batchlab_s numpy_s batchlab_cpu numpy_cpu ratio cpu_ratio
for r in $(seq 1 "$rounds"); do
  rm -rf "$tmp/sweep"
  timed "$tmp/batchlab" "$batchlab" sweep "$config" --output.dir="$tmp/sweep" --no-plot
  timed "$tmp/numpy" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" "$here/nqm_numpy.py" --out "$tmp/numpy.csv"
  read -r bw bc <<< "$(tail -1 "$tmp/batchlab.times")"
  read -r nw nc <<< "$(tail -1 "$tmp/numpy.times")"
  awk -v r="$r" -v bw="$bw" -v nw="$nw" -v bc="$bc" -v nc="$nc" \
    'BEGIN { printf "%-6s %12.3f %12.3f %12.3f %12.3f %10.1f %10.1f\n", r, bw, nw, bc, nc, nw / bw, nc / bc }'
done

# The answers: every (optimizer, batch size, lr index) with the same status and steps to target.
"$python" - "$tmp/sweep/trials.csv" "$tmp/numpy.csv" "$tmp/batchlab.times" "$tmp/numpy.times" <<'PY'
import csv, statistics, sys
sweep, numpy_csv, bt, nt = sys.argv[1:5]
rows = list(csv.DictReader(open(sweep)))
lrs = sorted({float(r["lr"]) for r in rows})
ours = {(r["optimizer"], int(r["batch_size"]), lrs.index(float(r["lr"]))): (r["status"], int(r["steps_to_target"]))
        for r in rows}
theirs = {(r["optimizer"], int(r["batch_size"]), int(r["lr_index"])): (r["status"], int(r["steps_to_target"]))
          for r in csv.DictReader(open(numpy_csv))}
wrong = [k for k in theirs if ours.get(k) != theirs[k]] + [k for k in ours if k not in theirs]
for k in wrong[:10]:
    print("# differs:", k, "batchlab", ours.get(k), "numpy", theirs.get(k))
b = [tuple(map(float, l.split())) for l in open(bt)]
n = [tuple(map(float, l.split())) for l in open(nt)]
med = lambda v: statistics.median(v)
print(f"median {med([x[0] for x in b]):12.3f} {med([x[0] for x in n]):12.3f} {med([x[1] for x in b]):12.3f} "
      f"{med([x[1] for x in n]):12.3f} {med([y[0] / x[0] for x, y in zip(b, n)]):10.1f} "
      f"{med([y[1] / x[1] for x, y in zip(b, n)]):10.1f}")
print(f"# trials compared: {len(theirs)}; #wrong {len(wrong)}")
sys.exit(1 if wrong or len(theirs) != 3200 else 0)
PY
