"""The measurements of papers/kaplan2020_zhang2024_lm_critical_batch, read from the trials' own
metrics.csv (every trial ran its whole budget, so any target loss and any data budget can be read
afterwards from the same runs):

- first_crossing: the step at which a trial's validation loss first reaches a target, linearly
  interpolated between the two evaluations around the crossing (the study engine takes the
  evaluation step itself; interpolation keeps the 64-step evaluation interval of the small batches
  from quantising S(B)), with the online B_simple (EMA) at that evaluation;
- steps_per_batch: S(B) = the fewest steps to the target over the lr grid at each batch size;
- fit_bcrit: S(B) = S_min (1 + B_crit / B) by least squares on ln S (the study engine's fit);
- loss_at: a trial's loss after D examples (linear between evaluations); the loss of a data budget
  D is the best over a model's trials (constant lr, no cool-down: the loss a run has at D, not the
  loss of a run whose schedule was planned for D);
- loss_nd_predict: L(N, D) = E + A / N^alpha + B / D^beta at a fitted law (the fit itself is
  `batchlab fit --law loss-nd`, which report.py runs);
- power_slope: the exponent of y ~ x^k by least squares in log-log.

Uncertainty (bootstrap_replicates): each replicate adds Gaussian noise to every evaluated loss with
the trial's own evaluation noise (its standard deviation estimated from second differences of the
curve, sd(d2) / sqrt(6), which a smooth curve leaves to the noise) and resamples the lr trials of each
batch size with replacement before taking the best, then redoes every measurement. It covers the
evaluation noise and the coarse lr grid; it does not cover seed-to-seed variation (one seed)."""
import math
import os

import numpy as np
from scipy.optimize import minimize_scalar

from _lib import read_csv, read_json  # papers/_lib.py (report.py puts papers/ on sys.path)


class Trial:
    """One trial's curve: evaluation steps, examples, validation loss, online B_simple."""

    def __init__(self, study_dir, row, lr_multiplier=1.0):
        self.batch = int(row["batch_size"])
        self.lr = float(row["lr"])
        self.lr_multiplier = lr_multiplier  # lr / the scaling rule's lr at this batch size (trials.csv)
        d = os.path.join(study_dir, row["dir"])
        m = read_csv(os.path.join(d, "metrics.csv"), ["step", "examples", "eval_loss", "b_simple"])
        self.step = np.array([float(r["step"]) for r in m])
        self.examples = np.array([float(r["examples"]) for r in m])
        self.loss = np.array([float(r["eval_loss"]) for r in m])
        # b_simple is empty where the estimator has no value yet (non-positive |G|^2 estimate)
        self.b_simple = np.array([float(r["b_simple"]) if r["b_simple"] else math.nan for r in m])
        s = read_json(os.path.join(d, "summary.json"))
        self.parameters = int(s["parameters"])
        d2 = np.diff(self.loss[len(self.loss) // 4:], 2)  # past the fast initial drop
        self.noise_sd = float(np.std(d2) / math.sqrt(6.0)) if len(d2) > 2 else 0.0


def load_study(study_dir):
    """The trials of one study output dir (real_trials.csv names each trial's directory, trials.csv
    its lr multiplier; a trial not yet in trials.csv counts as the rule's lr)."""
    rows = read_csv(os.path.join(study_dir, "real_trials.csv"), ["trial_id", "batch_size", "lr", "dir"])
    mult = {r["trial_id"]: float(r["lr_multiplier"])
            for r in read_csv(os.path.join(study_dir, "trials.csv"), ["trial_id", "lr_multiplier"])}
    return [Trial(study_dir, r, mult.get(r["trial_id"], 1.0)) for r in rows]


def first_crossing(step, loss, target):
    """(step, index) of the first evaluation with loss <= target, the step interpolated linearly
    from the evaluation before; (None, None) if the curve never reaches the target."""
    hit = np.nonzero(loss <= target)[0]
    if len(hit) == 0:
        return None, None
    i = int(hit[0])
    if i == 0:
        return float(step[0]), 0
    f = (loss[i - 1] - target) / (loss[i - 1] - loss[i])
    return float(step[i - 1] + f * (step[i] - step[i - 1])), i


def steps_per_batch(trials, target, losses=None, pick=None):
    """{B: (steps, trial)}: the fewest steps to target over each batch size's trials. losses
    (optional, aligned with trials) replaces the measured curves (bootstrap); pick (optional,
    {B: [trial indices]}) the trials each batch size chooses from."""
    best = {}
    for b in sorted({t.batch for t in trials}):
        idx = pick[b] if pick else [i for i, t in enumerate(trials) if t.batch == b]
        for i in idx:
            t = trials[i]
            s, _ = first_crossing(t.step, t.loss if losses is None else losses[i], target)
            if s is not None and (b not in best or s < best[b][0]):
                best[b] = (s, t)
    return best


def fit_bcrit(batches, steps):
    """S(B) = s_min (1 + b_crit / B), least squares on ln S: {b_crit, s_min, rms, bounded} or None
    with fewer than 3 points (two points fit any such curve exactly). b_crit is searched on
    [B_min / 100, 100 B_max]; bounded is False when the optimum sits at that edge (S(B) shows no
    bend on the grid, so b_crit is only a bound)."""
    if len(batches) < 3:
        return None
    B, lnS = np.asarray(batches, float), np.log(np.asarray(steps, float))

    def sse(ln_bc):
        g = np.log1p(math.exp(ln_bc) / B)
        ln_smin = np.mean(lnS - g)
        return float(np.sum((lnS - ln_smin - g) ** 2)), ln_smin

    lo, hi = math.log(B.min() / 100), math.log(B.max() * 100)
    r = minimize_scalar(lambda x: sse(x)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    err, ln_smin = sse(r.x)
    bounded = lo + 0.01 < r.x < hi - 0.01
    return {"b_crit": math.exp(r.x), "s_min": math.exp(ln_smin), "rms": math.sqrt(err / len(B)), "bounded": bounded}


def bcrit_at(trials, target, losses=None, pick=None):
    """(fit or None, {B: (steps, trial)}) of S(B) to one target."""
    best = steps_per_batch(trials, target, losses, pick)
    B = sorted(best)
    return fit_bcrit(B, [best[b][0] for b in B]), best


def b_simple_at(best, target):
    """Median over batch sizes of the online B_simple (EMA) of each best trial at its crossing of
    target; None if none is positive (an estimate can be negative early in training)."""
    vals = []
    for _, t in best.values():
        _, i = first_crossing(t.step, t.loss, target)
        if i is not None and t.b_simple[i] > 0:
            vals.append(float(t.b_simple[i]))
    return float(np.median(vals)) if vals else None


def loss_at(t, examples, loss=None):
    """A trial's validation loss after `examples` examples, linear between evaluations; None
    before its first evaluation or past its last."""
    y = t.loss if loss is None else loss
    if examples < t.examples[0] or examples > t.examples[-1]:
        return None
    return float(np.interp(examples, t.examples, y))


def budget_loss(trials, examples, losses=None):
    """The best loss any of a model's trials has after `examples` examples (a data budget)."""
    vals = [loss_at(t, examples, None if losses is None else losses[i]) for i, t in enumerate(trials)]
    vals = [v for v in vals if v is not None]
    return min(vals) if vals else None


def power_slope(x, y):
    """k of y ~ c x^k, least squares in log-log (None with fewer than 2 distinct x)."""
    pts = [(a, b) for a, b in zip(x, y) if a and b and a > 0 and b > 0]
    if len({p[0] for p in pts}) < 2:
        return None
    lx, ly = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def loss_nd_predict(fit, N, D):
    return fit["E"] + fit["A"] / N ** fit["alpha"] + fit["B"] / D ** fit["beta"]


def bootstrap_replicates(trials, n, seed=0):
    """n replicates of (losses, pick) for one model's trials: losses with each trial's evaluation
    noise added, and per batch size a resample with replacement of its trials (module docstring)."""
    rng = np.random.default_rng(seed)
    by_b = {}
    for i, t in enumerate(trials):
        by_b.setdefault(t.batch, []).append(i)
    for _ in range(n):
        losses = [t.loss + rng.normal(0.0, t.noise_sd, len(t.loss)) for t in trials]
        pick = {b: list(rng.choice(idx, len(idx), replace=True)) for b, idx in by_b.items()}
        yield losses, pick


def interval(samples, lo=5, hi=95):
    """The (5th, 95th) percentiles of the finite samples, or (None, None)."""
    s = [x for x in samples if x is not None and np.isfinite(x)]
    if len(s) < 10:
        return None, None
    return float(np.percentile(s, lo)), float(np.percentile(s, hi))
