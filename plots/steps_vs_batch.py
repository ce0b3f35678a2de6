"""Steps to target vs batch size, log-log, one line per optimizer (steps_vs_batch.csv).

Dashed: the fit S(B) = S_min (1 + B_crit / B) from summary.json; dotted grey: perfect scaling
(steps halve when B doubles) through each optimizer's smallest reached batch; a marker at B_crit.
Writes steps_vs_batch.png and .pdf into the results directory.
"""
import os

import numpy as np

from _common import by_optimizer, plt, read_csv, read_summary, results_dir, save


def main():
    d = results_dir()
    rows = read_csv(os.path.join(d, "steps_vs_batch.csv"),
                    ["optimizer", "batch_size", "steps_to_target", "status", "lr_on_edge"])
    summary = read_summary(d)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    s_all = []
    for i, (opt, rs) in enumerate(by_optimizer(rows).items()):
        color = f"C{i}"
        reached = [r for r in rs if r["status"] == "reached"]
        if not reached:
            continue
        b = np.array([float(r["batch_size"]) for r in reached])
        s = np.array([float(r["steps_to_target"]) for r in reached])
        s_all.extend(s)
        ax.plot(b, s, "o-", color=color, label=opt, ms=4)
        edge = np.array([r["lr_on_edge"] == "true" for r in reached])
        if edge.any():
            ax.plot(b[edge], s[edge], "x", color="k", ms=7)
        ax.plot(b, s[0] * b[0] / b, ":", color="grey", lw=0.8)
        fit = summary.get("optimizers", {}).get(opt, {})
        if fit.get("b_crit") is not None:
            bc, smin = fit["b_crit"], fit["s_min"]
            bb = np.geomspace(b.min(), b.max(), 200)
            ax.plot(bb, smin * (1 + bc / bb), "--", color=color, lw=1)
            if b.min() <= bc <= b.max():
                ax.plot([bc], [smin * 2], "D", color=color, ms=7, mfc="none")
            if fit.get("b_crit_lo") is not None:  # bootstrap interval: B_crit as a horizontal error bar
                ax.errorbar([bc], [smin * 2], xerr=[[bc - fit["b_crit_lo"]], [fit["b_crit_hi"] - bc]],
                            color=color, capsize=3, lw=1, fmt="none")
    if s_all:  # keep the perfect-scaling guides from stretching the axis
        ax.set_ylim(min(s_all) / 2, max(s_all) * 2)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel(f"steps to target ({summary.get('metric', 'metric')} < {summary.get('target', '?')})")
    ax.set_title(f"{summary.get('study', os.path.basename(os.path.abspath(d)))}: "
                 "dashed = S_min(1+B_crit/B), dotted = perfect scaling, diamond = B_crit (bar: 95% bootstrap CI), "
                 "x = lr on grid edge",
                 fontsize=7)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    save(fig, d, "steps_vs_batch")


if __name__ == "__main__":
    main()
