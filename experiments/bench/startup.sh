#!/usr/bin/env bash
# Fixed per-process cost of batchlab, two builds side by side, alternated round by round:
# `--help`, `sweep --check` of the default study, and `train --steps 1` (1 thread, Fashion-MNIST,
# no launcher: the cost every single-rank study trial pays before it trains). Prints the median
# wall time of each and the ratio old / new.
#   usage: startup.sh OLD_BATCHLAB NEW_BATCHLAB [ROUNDS=5]
# (e.g. OLD = a build of an earlier commit, NEW = build/release/experiments/batchlab)
set -euo pipefail
old=$1 new=$2 rounds=${3:-5}
src="$(cd "$(dirname "$0")/../.." && pwd)"
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cfg="$src/experiments/configs/nqm_zhang2019.ini"
data=/usr/share/datasets/fashion-mnist
[[ -d $data ]] || { echo "startup.sh: no Fashion-MNIST at $data" >&2; exit 2; }

# wall seconds of one run of "$@" (stdout/stderr discarded)
wall() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'; }

declare -A times
for ((r = 0; r < rounds; ++r)); do
  for which in old new; do
    bin=${!which}
    times[$which,help]+="$(wall "$bin" --help) "
    times[$which,check]+="$(wall "$bin" sweep --check "$cfg") "
    rm -rf "$scratch/t"
    times[$which,train]+="$(wall "$bin" train --steps 1 --threads 1 --data-dir "$data" --output "$scratch/t") "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '%-22s %10s %10s %8s   (median of %d rounds, load %s)\n' what old_s new_s old/new "$rounds" "$(cut -d' ' -f1 /proc/loadavg)"
for what in help check train; do
  o=$(echo "${times[old,$what]}" | median) n=$(echo "${times[new,$what]}" | median)
  printf '%-22s %10.3f %10.3f %8.1f\n' "$what" "$o" "$n" "$(awk -v a="$o" -v b="$n" 'BEGIN {print a / b}')"
done
