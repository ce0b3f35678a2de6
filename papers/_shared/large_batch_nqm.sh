#!/usr/bin/env bash
# The sweep shared by papers/you2017_lars, you2019_lamb and nado2021_reality_check: momentum,
# Nesterov, Adam, LARS and LAMB on the badly scaled sampled NQM
# (experiments/configs/paper_large_batch_nqm.ini). Run once, reused: batchlab sweep resumes a
# finished study in no time, so the second and third paper cost nothing. The wall-clock of the
# run that did the trials is kept in sweep_timing.json. Delete papers/_shared/results/ to redo it.
#   usage: large_batch_nqm.sh BATCHLAB_BIN QUICK(0|1)   -> prints the results directory
set -euo pipefail
BIN=$1; QUICK=$2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$(dirname "$HERE")")"
OUT="$HERE/results/large_batch_nqm"; EXTRA=()
if (( QUICK )); then OUT="$HERE/results/large_batch_nqm_quick"; EXTRA=(--study.lr_grid=log:1e-4:3:6 --study.batch_sizes=16,1024,65536); fi
t0=$(date +%s.%N)
"$BIN" sweep "$REPO/experiments/configs/paper_large_batch_nqm.ini" --output.dir="$OUT" --no-plot "${EXTRA[@]}" >&2
t1=$(date +%s.%N)
/usr/bin/python3 - "$OUT" "$t0" "$t1" <<'PYEOF'
import json, os, sys
d, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
resumed = json.load(open(os.path.join(d, "summary.json")))["provenance"].get("resumed_at_trial", 0)
p = os.path.join(d, "sweep_timing.json")
if resumed == 0 or not os.path.exists(p):  # keep the timing of the run that did the trials
    json.dump({"wall_s": t1 - t0, "resumed_at_trial": resumed, "load_avg_1min": os.getloadavg()[0],
               "cpus": os.cpu_count()}, open(p, "w"), indent=1)
PYEOF
echo "$OUT"
