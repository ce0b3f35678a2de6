#!/usr/bin/env bash
# Time per training update with batchlab's allocator setting (realtrain/cpu_memory.h: freed memory
# reused, no mmap per activation) against glibc's defaults (BATCHLAB_DEFAULT_MALLOC=1), in one run,
# the two alternated round by round so machine load hits them alike. Per (model, batch): one rank,
# --threads 1, STEPS updates whose only evaluation is the one at the end, then the same with an
# evaluation every 10 updates (an evaluation pass changes what the allocator holds, so with the
# defaults it changes the update time too). Time per update = wall_s / steps from summary.json;
# prints the median per setting and the ratio.
#   usage: cpu_malloc.sh BATCHLAB [STEPS=40] [ROUNDS=2]
set -euo pipefail
bin=$1 steps=${2:-40} rounds=${3:-2}
data=${BATCHLAB_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
[[ -d $data ]] || { echo "cpu_malloc.sh: no Fashion-MNIST at $data" >&2; exit 2; }
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
per_update() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["wall_s"]/s["steps"])' "$1"; }
printf '%-22s %-10s %14s %14s %8s   (one rank, 1 thread, %d updates, median of %d rounds, load %s)\n' \
  "model, batch" eval glibc_default batchlab ratio "$steps" "$rounds" "$(cut -d' ' -f1 /proc/loadavg)"
for spec in simple-cnn:64 simple-cnn:256 mlp:1024 mlp:4096; do
  model=${spec%%:*} batch=${spec##*:}
  for every in "$steps" 10; do
    declare -A t=([default]="" [batchlab]="")
    for ((r = 0; r < rounds; ++r)); do
      for mode in default batchlab; do
        out="$scratch/$model$batch-$every-$mode$r"
        env $([[ $mode == default ]] && echo BATCHLAB_DEFAULT_MALLOC=1) "$bin" train --model "$model" \
          --optimizer momentum --lr 0.02 --steps "$steps" --eval-every "$every" --batch-size "$batch" --threads 1 \
          --loader-threads 1 --data-dir "$data" --output "$out" >/dev/null
        t[$mode]+="$(per_update "$out/summary.json") "
      done
    done
    d=$(echo "${t[default]}" | median) b=$(echo "${t[batchlab]}" | median)
    awk -v m="$model, B = $batch" -v e="$([[ $every == "$steps" ]] && echo "at end" || echo "every 10")" \
      -v d="$d" -v b="$b" 'BEGIN { printf "%-22s %-10s %11.1f ms %11.1f ms %7.2fx\n", m, e, d * 1e3, b * 1e3, d / b }'
  done
done
