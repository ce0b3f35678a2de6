#!/usr/bin/env bash
# The real-training study shared by papers/you2017_lars, you2019_lamb and
# nado2021_reality_check: `batchlab study experiments/configs/paper_large_batch_real_fmnist.ini`
# (Fashion-MNIST MLP, 2 ranks under mpirun, B = 4096, four optimizers x 3 lrs: ~15-20 min on this
# loaded 2-core machine; no reduced mode, QUICK is accepted and runs the same). Resumable and
# reused: a finished study costs nothing the second time. The wall-clock of the run that did the
# trials is kept in study_timing.json. Delete papers/_shared/results/real_large_batch to redo it.
#   usage: real_large_batch.sh BATCHLAB_BIN QUICK(0|1)   -> prints the results directory
set -euo pipefail
BIN=$1; QUICK=$2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$(dirname "$HERE")")"
OUT="$HERE/results/real_large_batch"; EXTRA=()
t0=$(date +%s.%N)
(cd "$REPO" && "$BIN" study "$REPO/experiments/configs/paper_large_batch_real_fmnist.ini" --output.dir="$OUT" --no-plot "${EXTRA[@]}" >&2)
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
