#!/usr/bin/env bash
# papers/kaplan2020_zhang2024_lm_critical_batch/lm_analysis.py measures what its report claims:
# - first_crossing interpolates between the evaluations around a crossing;
# - on curves built so that the steps to every loss L follow S(B) = S_min(L) (1 + B_crit(L) / B) with
#   B_crit(L) = 700 / L^4, steps_per_batch + fit_bcrit give back B_crit(L) at several targets, and the
#   slope of ln B_crit against ln L is -4 (what report.py fits as 1/alpha_B);
# - a flat S(B) is flagged as having no bend (bounded False);
# - report.py's (d), `batchlab fit --law loss-nd` on the table report.write_lf_csv writes, gives back a
#   planted L(N, D) = E + A / N^alpha + B / D^beta and the compute-optimal a_N = beta / (alpha + beta),
#   and lm.loss_nd_predict evaluates the law it returns;
# - budget_loss is the best loss over the trials after D examples.
# usage: papers_lm_analysis.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
BATCHLAB_BIN="$BIN" /usr/bin/python3 - "$SRC" "$SCRATCH" <<'PYEOF'
import math, os, sys
import numpy as np
src, scratch = sys.argv[1], sys.argv[2]
sys.path.insert(0, f"{src}/papers")
sys.path.insert(0, f"{src}/papers/kaplan2020_zhang2024_lm_critical_batch")
import lm_analysis as lm
import report

fails = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails.append(what)

s, i = lm.first_crossing(np.array([10.0, 20.0, 30.0]), np.array([3.0, 2.6, 2.2]), 2.5)
check(abs(s - 22.5) < 1e-12 and i == 2, f"crossing of 2.5 between (20, 2.6) and (30, 2.2) at 22.5: {s}")
check(lm.first_crossing(np.array([1.0, 2.0]), np.array([3.0, 2.9]), 2.5) == (None, None), "no crossing: None")

def bcrit(L):
    return 700.0 / L ** 4

def smin(L):
    return 40.0 * (3.2 - L) ** 1.5 / 0.1

class Curve:  # a trial whose loss reaches L after S_min(L) (1 + B_crit(L) / B) steps
    def __init__(self, B, lr):
        self.batch, self.lr = B, lr
        Ls = np.linspace(3.15, 1.9, 2000)
        st = smin(Ls) * (1 + bcrit(Ls) / B)
        self.step = np.arange(8.0, st.max(), 8.0)
        self.loss = np.interp(self.step, st, Ls)
        self.examples = self.step * B
        self.b_simple = np.ones_like(self.step)

trials = [Curve(B, lr) for B in (8, 32, 128, 512) for lr in (1e-3, 2e-3)]
pts = []
for L in (2.8, 2.5, 2.2):
    fit, best = lm.bcrit_at(trials, L)
    check(fit is not None and fit["bounded"] and abs(fit["b_crit"] / bcrit(L) - 1) < 0.02,
          f"planted B_crit({L}) = {bcrit(L):.1f} recovered: {fit and fit['b_crit']:.1f}")
    check(abs(fit["s_min"] / smin(L) - 1) < 0.02, f"planted S_min({L}) = {smin(L):.0f} recovered: {fit['s_min']:.0f}")
    pts.append((L, fit["b_crit"]))
k = lm.power_slope([p[0] for p in pts], [p[1] for p in pts])
check(abs(k + 4) < 0.1, f"d ln B_crit / d ln L = -4 recovered: {k:.3f}")
flat = lm.fit_bcrit([8, 32, 128], [100.0, 100.0, 100.0])
check(not flat["bounded"], "a flat S(B) has no bend on the grid (bounded False)")
check(lm.fit_bcrit([8, 32], [10.0, 5.0]) is None, "two points: no fit")

N = np.repeat([2e4, 1e5, 2.5e5], 5)
D = np.tile([6.5e4, 1.3e5, 2.6e5, 5.2e5, 1.05e6], 3)
L = 1.5 + 40 / N ** 0.4 + 300 / D ** 0.35
report.write_lf_csv(os.path.join(scratch, "loss_nd.csv"), ["parameters", "tokens", "loss"], zip(N, D, L))
law = report.fit_law(os.path.join(scratch, "loss_nd.csv"), scratch)
check(abs(law["alpha"] - 0.4) < 0.01 and abs(law["beta"] - 0.35) < 0.01 and abs(law["E"] - 1.5) < 0.01,
      f"planted law (E 1.5, alpha 0.4, beta 0.35) recovered by batchlab fit: E {law['E']:.3f} "
      f"alpha {law['alpha']:.3f} beta {law['beta']:.3f} ({law['starts']} starts)")
a, b = law["a_N"], law["b_D"]
check(abs(a - 0.35 / 0.75) < 0.02 and abs(a + b - 1) < 1e-9, f"N_opt ~ C^{a:.3f} (0.467), D_opt ~ C^{b:.3f}")
check(float(np.max(np.abs(lm.loss_nd_predict(law, N, D) / L - 1))) < 1e-3, "loss_nd_predict reproduces the planted losses")
check(abs(lm.budget_loss(trials, 4096) - min(lm.loss_at(t, 4096) for t in trials if lm.loss_at(t, 4096))) < 1e-12,
      "budget_loss = the best trial's loss at D")
sys.exit(1 if fails else 0)
PYEOF
