#!/usr/bin/env bash
# The real-training study shared by papers/shallue2018_data_parallelism and
# mccandlish2018_noise_scale: `batchlab study experiments/configs/paper_real_fmnist_mlp.ini`
# (Fashion-MNIST MLP, 2 ranks under mpirun, steps to 85% test accuracy vs batch size, B_simple
# measured by the trainer). Full grid: 5 batch sizes x 3 lrs, about an hour on this loaded
# 2-core machine; quick: 3 batch sizes x the rule's lr only (~10-15 min). Resumable and reused:
# a finished study costs nothing the second time. The wall-clock of the run that did the trials
# is kept in study_timing.json. Delete papers/_shared/results/real_fmnist* to redo it.
#   usage: real_fmnist.sh BATCHLAB_BIN QUICK(0|1)   -> prints the results directory
set -euo pipefail
BIN=$1; QUICK=$2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$(dirname "$HERE")")"
OUT="$HERE/results/real_fmnist"; EXTRA=()
if (( QUICK )); then
  OUT="$HERE/results/real_fmnist_quick"; EXTRA=(--study.batch_sizes=64,512,4096 --study.lr_grid=scaled:1:1:1)
fi
t0=$(date +%s.%N)
(cd "$REPO" && "$BIN" study "$REPO/experiments/configs/paper_real_fmnist_mlp.ini" --output.dir="$OUT" --no-plot "${EXTRA[@]}" >&2)
t1=$(date +%s.%N)
/usr/bin/python3 - "$OUT" "$t0" "$t1" <<'PYEOF'
import json, os, sys
d, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
p = os.path.join(d, "study_timing.json")
prov = json.load(open(os.path.join(d, "summary.json"))).get("provenance", {})
resumed = prov.get("resumed_at_trial", 0)
if resumed == 0 or not os.path.exists(p):  # keep the timing of the run that did the trials
    json.dump({"wall_s": t1 - t0, "resumed_at_trial": resumed, "load_avg_1min": os.getloadavg()[0],
               "cpus": os.cpu_count()}, open(p, "w"), indent=1)
PYEOF
echo "$OUT"
