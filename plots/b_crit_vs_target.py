"""Critical batch against the target, one line per optimizer (a several-target study: summary.json
"fits" and "b_crit_vs_target"), log-log, with the power-law fit B_crit(L) = B* / L^(1/alpha_B)
(Kaplan et al. 2020) through the bounded fits, and the bootstrap interval of each B_crit as an
error bar where summary.json has one. Left panel: S(B) at every target from steps_vs_batch.csv.
Writes b_crit_vs_target.png and .pdf into the results directory.
"""
import os

import numpy as np

from _common import by_optimizer, plt, read_csv, read_summary, results_dir, save


def main():
    d = results_dir()
    summary = read_summary(d)
    if "fits" not in summary:
        raise SystemExit(f"{d}/summary.json: no 'fits' (not a several-target study)")
    rows = read_csv(os.path.join(d, "steps_vs_batch.csv"), ["optimizer", "batch_size", "steps_to_target", "status", "target"])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.6))
    targets = summary.get("targets", [])
    for i, (opt, rs) in enumerate(by_optimizer(rows).items()):
        for j, t in enumerate(targets):
            pts = [r for r in rs if float(r["target"]) == t and r["status"] == "reached" and float(r["steps_to_target"]) > 0]
            if pts:
                b = np.array([float(r["batch_size"]) for r in pts])
                s = np.array([float(r["steps_to_target"]) for r in pts])
                shade = 0.35 + 0.65 * (j + 1) / len(targets)
                ax0.plot(b, s, "o-", color=f"C{i}", alpha=shade, ms=3, label=f"{opt}, target {t:g}")
        fits = [f for f in summary["fits"] if f["optimizer"] == opt and f["b_crit"] is not None and f["fit_bounded"]]
        if not fits:
            continue
        t = np.array([f["target"] for f in fits])
        bc = np.array([f["b_crit"] for f in fits])
        lo = np.array([f.get("b_crit_lo") if f.get("b_crit_lo") is not None else np.nan for f in fits])
        hi = np.array([f.get("b_crit_hi") if f.get("b_crit_hi") is not None else np.nan for f in fits])
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            ax1.errorbar(t, bc, yerr=[bc - lo, hi - bc], fmt="o", color=f"C{i}", capsize=3, label=f"{opt} (95% bootstrap CI)")
        else:
            ax1.plot(t, bc, "o", color=f"C{i}", label=opt)
        law = summary.get("b_crit_vs_target", {}).get(opt, {})
        if law.get("b_star") is not None:
            grid = np.geomspace(t.min(), t.max(), 50)
            ax1.plot(grid, law["b_star"] * grid ** (-1.0 / law["alpha_b"]), "--", color=f"C{i}", lw=1,
                     label=f"{opt}: B* = {law['b_star']:.3g}, alpha_B = {law['alpha_b']:.3g}")
    ax0.set_xscale("log", base=2)
    ax0.set_yscale("log")
    ax0.set_xlabel("batch size B")
    ax0.set_ylabel("steps to target S(B)")
    ax0.legend(fontsize=6)
    ax0.grid(True, which="both", alpha=0.3)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel(f"target ({summary.get('metric', 'metric')})")
    ax1.set_ylabel("B_crit")
    ax1.set_title(f"{summary.get('study', '')}: B_crit(L) = B* / L^(1/alpha_B)", fontsize=8)
    ax1.legend(fontsize=7)
    ax1.grid(True, which="both", alpha=0.3)
    save(fig, d, "b_crit_vs_target")


if __name__ == "__main__":
    main()
