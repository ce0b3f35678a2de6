#!/usr/bin/env bash
# batchlab noise-scale on the NQM of ci_small.ini (d = 200, h_i = c_i = 1/i, E theta_0^2 = 1):
# the exact expected B_simple = sum c_i / sum h_i^2 and B_noise = sum h_i c_i / sum h_i^3 (closed
# forms, computed here independently), and the two-batch estimator agrees with the exact value at
# the drawn theta_0 within 5 standard errors. A sampled landscape (MLP) gives an estimate only.
# usage: noise_scale.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" noise-scale "$SRC/experiments/configs/ci_small.ini" --output.dir="$SCRATCH/nqm" --noise_scale.samples=400 > nqm.out
cat nqm.out
[[ -s nqm/noise_scale.json ]] || fail "no noise_scale.json"
python3 - nqm/noise_scale.json <<'PY' || fail "NQM noise scale"
import json, sys
r = json.load(open(sys.argv[1]))
d = 200
h = [1.0 / i for i in range(1, d + 1)]
c = h
b_simple = sum(c) / sum(x * x for x in h)
b_noise = sum(a * b for a, b in zip(h, c)) / sum(x ** 3 for x in h)
e = r["exact_expected"]
assert abs(e["b_simple"] / b_simple - 1) < 1e-12, (e["b_simple"], b_simple)
assert abs(e["b_noise"] / b_noise - 1) < 1e-12, (e["b_noise"], b_noise)
est, at = r["estimator"], r["exact_at_theta0"]
assert abs(est["b_simple"] - at["b_simple"]) < 5 * est["b_simple_se"], (est, at)
assert abs(est["trace_sigma"] - sum(c)) < 5 * est["trace_sigma_se"], est
print("exact expected B_simple", b_simple, "B_noise", b_noise, "estimate at theta0", est["b_simple"], "+-", est["b_simple_se"])
PY

"$BIN" noise-scale "$SRC/experiments/configs/ci_small.ini" --output.dir="$SCRATCH/mlp" --landscape.kind=mlp \
  --study.mode=sampled --landscape.input_dim=8 --landscape.hidden=16 --landscape.train_examples=1024 > mlp.out
python3 -c "
import json; r = json.load(open('mlp/noise_scale.json'))
assert 'exact_expected' not in r and r['estimator']['b_simple'] > 0, r" || fail "MLP estimate"

set +e
"$BIN" noise-scale "$SRC/experiments/configs/ci_small.ini" --noise_scale.big_batch=2 --output.dir="$SCRATCH/bad" 2> bad.err
rc=$?
set -e
[[ $rc -eq 2 && $(wc -l < bad.err) -eq 1 && ! -e $SCRATCH/bad ]] || fail "big_batch <= small_batch: rc=$rc $(cat bad.err)"
echo "noise-scale ok"
