#!/usr/bin/env bash
# `batchlab fit` (issue 11 part 3, issue 14 (d)):
#   1. a published-style table (two model sizes, steps to target per batch size, rounded as papers
#      print them) gives fit.csv with the documented columns, B_crit and S_min near the planted ones
#      inside their bootstrap interval, and the figure;
#   2. a study's own steps_vs_batch.csv and trials.csv, grouped by optimizer, give exactly the
#      B_crit and S_min of its summary.json (one implementation of the fit and of the reduction);
#   3. --law loss-nd recovers Hoffmann et al.'s planted L(N, D) and its compute-optimal exponents;
#   4. bad tables: one line, exit 2, nothing written.
# usage: fit_table.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
fail() { echo "FAIL: $*"; exit 1; }

# 1. Published-style: planted (B_crit, S_min) = (500, 2000) and (2000, 800), 3 significant digits.
python3 - > published.csv <<'PY'
print("model,batch_size,steps_to_target")
for model, b_crit, s_min in (("small", 500.0, 2000.0), ("large", 2000.0, 800.0)):
    for e in range(4, 15):
        b = 2 ** e
        print(f"{model},{b},{float(f'{s_min * (1 + b_crit / b):.3g}'):g}")
PY
"$BIN" fit published.csv --by model --output "$SCRATCH/pub" > pub.out
cat pub.out
[[ $(head -1 pub/fit.csv) == "group,b_crit,s_min,e_min,fit_rms,b_crit_lo,b_crit_hi,points" ]] || fail "fit.csv header: $(head -1 pub/fit.csv)"
python3 - pub/fit.csv <<'PY' || fail "published fit"
import csv, sys
rows = {r["group"]: r for r in csv.DictReader(open(sys.argv[1]))}
for g, b_crit, s_min in (("small", 500.0, 2000.0), ("large", 2000.0, 800.0)):
    r = rows[g]
    assert abs(float(r["b_crit"]) / b_crit - 1) < 0.02, (g, r)
    assert abs(float(r["s_min"]) / s_min - 1) < 0.02, (g, r)
    assert float(r["b_crit_lo"]) <= b_crit <= float(r["b_crit_hi"]), (g, r)
    assert int(r["points"]) == 11
PY
grep -qE '^small +[0-9.e+]+ ' pub.out || fail "no table row for group small"
if python3 -c "import matplotlib" 2> /dev/null; then [[ -s pub/fit.png ]] || fail "no fit.png"; fi

# 2. A study's own tables.
"$BIN" sweep "$SRC/experiments/configs/ci_small.ini" --study.seeds=0,1 --output.dir="$SCRATCH/study" --no-plot > /dev/null
for table in steps_vs_batch trials; do
  "$BIN" fit "study/$table.csv" --by optimizer --output "$SCRATCH/own_$table" --no-plot > /dev/null
  python3 - "study/summary.json" "own_$table/fit.csv" <<'PY' || fail "fit of the study's $table.csv differs from summary.json"
import csv, json, sys
s = json.load(open(sys.argv[1]))["optimizers"]
for r in csv.DictReader(open(sys.argv[2])):
    o = s[r["group"]]
    # format_number writes the shortest text that reads back to the same double
    assert float(r["b_crit"]) == o["b_crit"] and float(r["s_min"]) == o["s_min"], (r, o)
    if "trials" in sys.argv[2]:  # the rows per seed give the same interval as the study's seeds
        assert float(r["b_crit_lo"]) == o["b_crit_lo"] and float(r["b_crit_hi"]) == o["b_crit_hi"], (r, o)
PY
done

# 3. The loss law, planted at Hoffmann et al.'s approach-3 values, 0.2% noise.
python3 - > chinchilla.csv <<'PY'
import math, random
random.seed(5)
E, A, B, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
print("params,tokens,final_loss")
for n in (7e7, 2e8, 6e8, 1.6e9, 4e9, 1e10):
    for r in (5, 10, 20, 40, 80):
        d = n * r
        print(f"{n:g},{d:g},{(E + A / n ** alpha + B / d ** beta) * math.exp(random.gauss(0, 0.002)):.6f}")
PY
"$BIN" fit chinchilla.csv --law loss-nd --columns params,tokens,final_loss --output "$SCRATCH/law" > law.out
cat law.out
python3 - law/loss_fit.csv <<'PY' || fail "loss-nd did not recover the planted law"
import csv, sys
v = {r["parameter"]: r for r in csv.DictReader(open(sys.argv[1]))}
truth = {"E": 1.69, "alpha": 0.34, "beta": 0.28, "a_N": 0.28 / 0.62, "b_D": 0.34 / 0.62}
tol = {"E": 0.03, "alpha": 0.03, "beta": 0.03, "a_N": 0.02, "b_D": 0.02}
for k, t in truth.items():
    x, lo, hi = float(v[k]["value"]), float(v[k]["lo"]), float(v[k]["hi"])
    assert abs(x - t) < tol[k], (k, x, t)
    assert lo <= x <= hi, (k, lo, x, hi)
PY
# The same table with CRLF line ends (what Python's csv module writes) and quoted fields: the same fit.
sed -e 's/^\([^,]*\),/"\1",/' -e 's/$/\r/' chinchilla.csv > chinchilla_crlf.csv
"$BIN" fit chinchilla_crlf.csv --law loss-nd --columns params,tokens,final_loss --output "$SCRATCH/law_crlf" > /dev/null \
  || fail "loss-nd did not read a CRLF table"
cmp -s law/loss_fit.csv law_crlf/loss_fit.csv || fail "loss-nd: the CRLF table's fit differs from the LF table's"

# 4. Bad input.
bad() {  # EXPECTED_TEXT TABLE_TEXT [ARGS...]
  local want=$1 text=$2
  shift 2
  printf '%b' "$text" > bad.csv
  set +e
  "$BIN" fit bad.csv --output "$SCRATCH/bad_out" --no-plot "$@" > bad.out 2> bad.err
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "'$want': exit $rc, not 2"
  [[ $(wc -l < bad.err) -eq 1 ]] || fail "'$want': not one line: $(cat bad.err)"
  grep -qF "$want" bad.err || fail "expected '$want': $(cat bad.err)"
  [[ ! -e $SCRATCH/bad_out ]] || fail "'$want': wrote output"
}
bad "no column 'batch_size'" 'batch,steps_to_target\n4,10\n8,6\n16,4\n'
bad "no column 'steps_to_target' or 'examples_to_target'" 'batch_size,steps\n4,10\n'
bad "line 3: steps_to_target = '0': must be > 0" 'batch_size,steps_to_target\n4,10\n8,0\n16,4\n'
bad "batch_size = '-8': must be > 0" 'batch_size,steps_to_target\n4,10\n-8,6\n16,4\n'
bad "has 2 batch size(s) that reached the target; a fit needs at least 3" 'batch_size,steps_to_target\n4,10\n8,6\n8,7\n'
bad "model = 'b' has 2 batch size(s)" 'model,batch_size,steps_to_target\na,4,10\na,8,6\na,16,4\nb,4,10\nb,8,6\n' --by model
bad "no column 'model'" 'batch_size,steps_to_target\n4,10\n8,6\n16,4\n' --by model
bad "at least 5" 'N,D,loss\n1e8,1e9,3\n2e8,1e9,2.9\n' --law loss-nd
bad "no column 'N'" 'n,D,loss\n1e8,1e9,3\n' --law loss-nd
bad "unknown (critical-batch, loss-nd)" 'N,D,loss\n' --law chinchilla
set +e; "$BIN" fit "$SCRATCH/missing.csv" --output "$SCRATCH/bad_out" > /dev/null 2> bad.err; rc=$?; set -e
[[ $rc -eq 2 ]] && grep -q "cannot read" bad.err || fail "missing table: exit $rc: $(cat bad.err)"
echo "fit_table: ok"
