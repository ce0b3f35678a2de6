"""`batchlab fit` figure: steps to target vs batch size per group (fit_points.csv), the fitted
S(B) = S_min (1 + B_crit / B) and B_crit with its 95% bootstrap interval (fit.csv).
Writes fit.png and .pdf into the output directory.
"""
import math
import os

import numpy as np

from _common import plt, read_csv, results_dir, save


def main():
    d = results_dir()
    fits = read_csv(os.path.join(d, "fit.csv"), ["group", "b_crit", "s_min", "b_crit_lo", "b_crit_hi"])
    points = read_csv(os.path.join(d, "fit_points.csv"), ["group", "batch_size", "steps_to_target"])
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for i, f in enumerate(fits):
        color = f"C{i % 10}"
        rs = [r for r in points if r["group"] == f["group"]]
        b = np.array([float(r["batch_size"]) for r in rs])
        s = np.array([float(r["steps_to_target"]) for r in rs])
        bc, smin = float(f["b_crit"]), float(f["s_min"])
        ax.plot(b, s, "o", color=color, ms=4, label=f"{f['group']}: B_crit {bc:.3g}")
        bb = np.geomspace(b.min(), b.max(), 200)
        ax.plot(bb, smin * (1 + bc / bb), "--", color=color, lw=1)
        lo, hi = float(f["b_crit_lo"]), float(f["b_crit_hi"])
        if not (math.isnan(lo) or math.isnan(hi)):
            ax.errorbar([bc], [2 * smin], xerr=[[bc - lo], [hi - bc]], fmt="D", mfc="none", color=color, capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("steps to target")
    ax.set_title("dashed = S_min(1+B_crit/B); diamond at (B_crit, 2 S_min) with its 95% bootstrap CI", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    save(fig, d, "fit")


if __name__ == "__main__":
    main()
