"""The simulator's prediction beside the real measurement: steps to target vs batch size.

Two modes:

  sim_vs_real.py calibrate REAL_DIR [--optimizer NAME] [--dim D] [--curvature-power P]
                 [--noise-power Q] [--init-variance V]
      Prints the `batchlab sweep` overrides (--study.target=...) that calibrate an analytic NQM
      (Zhang et al. 2019: h_i = i^-P, c_i = i^-Q, E theta_0,i^2 = V) to the real study in
      REAL_DIR, and writes REAL_DIR/nqm_calibration.json.

  sim_vs_real.py REAL_DIR SIM_DIR [--out DIR]
      Plots both studies' steps_vs_batch.csv (by column name) and their fits from summary.json,
      each divided by its own fitted S_min, on one log-log figure: sim_vs_real.png / .pdf in
      DIR (default REAL_DIR).

What the prediction is. The simulator does not know the network, so it predicts the SHAPE of
S(B) -- where perfect scaling ends -- not the absolute number of steps; both curves are shown as
S(B) / S_min. Calibration (one number): the measured gradient noise scale B_simple at the target
(summary.json noise_scale, median over batch sizes of the best trials). McCandlish et al. 2018
find B_crit ~ B_noise ~ B_simple at the loss where it is measured, so the NQM is trained to the
loss at which ITS B_simple equals the measured one. B_simple = sum c_i / sum h_i^2 theta_i^2
grows as training shrinks theta; along the noise-free (gradient-flow) path theta_i^2(t) =
V exp(-2 h_i t), so we solve B_simple(t) = measured for t by bisection and set the NQM target to
the expected loss there, L(t) = 1/2 sum h_i V exp(-2 h_i t). The rest of the NQM (d = 10^4,
h_i = c_i = 1/i) is Zhang et al.'s, and the optimizer (momentum SGD, best lr per batch size
on a log grid) mirrors the real study's.
"""
import argparse
import json
import os
import sys

import numpy as np

from _common import read_csv, read_summary


def nqm_path(dim, p, q, v):
    i = np.arange(1, dim + 1, dtype=float)
    h = i ** -p
    c = i ** -q

    def b_simple(t):
        return c.sum() / (h * h * v * np.exp(-2.0 * h * t)).sum()

    def loss(t):
        return 0.5 * (h * v * np.exp(-2.0 * h * t)).sum()

    return b_simple, loss


def calibrate_time(b_simple, target_b):
    """t >= 0 with b_simple(t) = target_b (b_simple is increasing in t); None if below b_simple(0)."""
    if target_b <= b_simple(0.0):
        return None
    lo, hi = 0.0, 1.0
    while b_simple(hi) < target_b:
        lo, hi = hi, hi * 2.0
        if hi > 1e12:
            sys.exit("sim_vs_real.py: measured B_simple is beyond what this NQM reaches; raise --dim")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if b_simple(mid) < target_b:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def measured_b_simple(summary, optimizer):
    opts = summary.get("noise_scale", {}).get("optimizers", {})
    if not opts:
        sys.exit("sim_vs_real.py: summary.json has no noise_scale (was the study run with >= 2 ranks?)")
    name = optimizer or next(iter(opts))
    if name not in opts:
        sys.exit(f"sim_vs_real.py: optimizer '{name}' not in noise_scale (have {list(opts)})")
    b = opts[name].get("b_simple_median")
    if b is None:
        sys.exit(f"sim_vs_real.py: no measured B_simple for '{name}'")
    return name, float(b)


def cmd_calibrate(a):
    summary = read_summary(a.real_dir)
    name, b = measured_b_simple(summary, a.optimizer)
    b_simple, loss = nqm_path(a.dim, a.curvature_power, a.noise_power, a.init_variance)
    t = calibrate_time(b_simple, b)
    if t is None:
        sys.exit(f"sim_vs_real.py: measured B_simple {b:.4g} is below the NQM's at init {b_simple(0.0):.4g}")
    out = {
        "optimizer": name,
        "measured_b_simple": b,
        "nqm": {"dim": a.dim, "curvature_power": a.curvature_power, "noise_power": a.noise_power,
                "init_variance": a.init_variance},
        "gradient_flow_time": t,
        "nqm_b_simple_at_target": b_simple(t),
        "nqm_initial_loss": loss(0.0),
        "nqm_target_loss": loss(t),
        "method": "NQM target = gradient-flow loss at which the NQM's B_simple equals the measured one",
    }
    with open(os.path.join(a.real_dir, "nqm_calibration.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(f"--study.target={loss(t):.6g} --landscape.dim={a.dim} --landscape.curvature_power={a.curvature_power:g} "
          f"--landscape.noise_power={a.noise_power:g} --landscape.init_variance={a.init_variance:g}")


def reached(d, optimizer):
    rows = read_csv(os.path.join(d, "steps_vs_batch.csv"), ["optimizer", "batch_size", "steps_to_target", "status"])
    rows = [r for r in rows if r["status"] == "reached" and (optimizer is None or r["optimizer"] == optimizer)]
    if not rows:
        sys.exit(f"sim_vs_real.py: {d}: no batch size reached the target")
    name = rows[0]["optimizer"]
    rows = [r for r in rows if r["optimizer"] == name]
    b = np.array([float(r["batch_size"]) for r in rows])
    s = np.array([float(r["steps_to_target"]) for r in rows])
    return name, b, s


def cmd_plot(a):
    from _common import plt, save

    real_sum, sim_sum = read_summary(a.real_dir), read_summary(a.sim_dir)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    bs_all = []
    for d, summ, label, color, marker in ((a.real_dir, real_sum, "real", "C0", "o"),
                                          (a.sim_dir, sim_sum, "simulated NQM", "C1", "s")):
        name, b, s = reached(d, None)
        fit = summ.get("optimizers", {}).get(name, {})
        s_min = fit.get("s_min") or s.min()
        b_crit = fit.get("b_crit")
        bs_all.extend(b)
        lab = f"{label} ({summ.get('landscape', '?')}, {name})"
        ax.plot(b, s / s_min, marker + "-", color=color, ms=4, label=lab)
        if b_crit and fit.get("fit_bounded", True):
            grid = np.geomspace(b.min(), b.max(), 200)
            ax.plot(grid, 1.0 + b_crit / grid, "--", color=color, lw=1,
                    label=f"{label} fit: B_crit = {b_crit:.3g}")
            if b.min() / 4 <= b_crit <= b.max() * 4:  # keep the axis on the measured range
                ax.axvline(b_crit, color=color, ls=":", lw=1)
        elif b_crit:
            ax.plot([], [], " ", label=f"{label} fit unbounded (B_crit beyond the measured range)")
    if real_sum.get("noise_scale"):
        try:
            _, bsimple = measured_b_simple(real_sum, None)
            ax.axvline(bsimple, color="k", ls="-.", lw=1, label=f"measured B_simple = {bsimple:.3g}")
        except SystemExit:
            pass
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("steps to target / fitted S_min")
    ax.set_title("Simulator prediction vs real training")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    out = a.out or a.real_dir
    os.makedirs(out, exist_ok=True)
    save(fig, out, "sim_vs_real")
    print(f"{out}/sim_vs_real.png")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "calibrate":
        p = argparse.ArgumentParser(prog="sim_vs_real.py calibrate")
        p.add_argument("real_dir")
        p.add_argument("--optimizer")
        p.add_argument("--dim", type=int, default=10000)
        p.add_argument("--curvature-power", type=float, default=1.0)
        p.add_argument("--noise-power", type=float, default=1.0)
        p.add_argument("--init-variance", type=float, default=1.0)
        a = p.parse_args(sys.argv[2:])
        cmd_calibrate(a)
    else:
        p = argparse.ArgumentParser(prog="sim_vs_real.py")
        p.add_argument("real_dir")
        p.add_argument("sim_dir")
        p.add_argument("--out")
        a = p.parse_args()
        for d in (a.real_dir, a.sim_dir):
            if not os.path.isdir(d):
                sys.exit(f"sim_vs_real.py: '{d}' is not a directory")
        cmd_plot(a)


if __name__ == "__main__":
    main()
