"""Shallue et al. 2019 report from the real Fashion-MNIST study. usage: report.py RESULTS_DIR

Regimes per step of the batch-size grid, from the measured S(B): with k = B_next / B,
perfect scaling if S(B_next)/S(B) <= 1.25/k (within 25% of 1/k), maximal data parallelism if
S(B_next)/S(B) >= 0.8 (less than 20% fewer steps), diminishing returns in between."""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _lib import (best_per_batch, fits, md_table, plt, read_json, replace_generated, results_arg,  # noqa: E402
                  steps, timing_line, write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))


def regime(ratio, k):
    if ratio <= 1.25 / k:
        return "perfect scaling"
    if ratio >= 0.8:
        return "maximal data parallelism"
    return "diminishing returns"


def main():
    res = results_arg()
    study = os.path.join(res, "study")
    best = best_per_batch(study)
    opt = next(iter(best))
    rows_b = best[opt]
    fit, summary = fits(study)
    ns = {p["batch_size"]: p["b_simple"] for p in summary.get("noise_scale", {}).get("optimizers", {})
          .get(opt, {}).get("per_batch", [])}
    B = sorted(rows_b)
    S = [steps(rows_b[b]) for b in B]
    rows, regimes = [], []
    for i, b in enumerate(B):
        reg = "—"
        if i + 1 < len(B) and S[i] and S[i + 1]:
            reg = regime(S[i + 1] / S[i], B[i + 1] / b)
            regimes.append(reg)
        rows.append([b, S[i] if S[i] else rows_b[b]["status"], S[i] * b if S[i] else None,
                     float(rows_b[b]["lr"]) if S[i] else None, rows_b[b]["lr_on_edge"], ns.get(b),
                     f"{reg} (to B={B[i + 1]})" if reg != "—" else "—"])
    write_csv(os.path.join(HERE, "summary.csv"),
              ["batch_size", "steps_to_target", "examples_to_target", "best_lr", "lr_on_edge", "b_simple",
               "regime_to_next"], rows)
    f = fit.get(opt, {})
    seen = sorted(set(regimes), key=["perfect scaling", "diminishing returns", "maximal data parallelism"].index)
    checks = [("Three regimes: perfect scaling, diminishing returns, maximal data parallelism, in that order",
               " -> ".join(regimes) if regimes else "—",
               seen == ["perfect scaling", "diminishing returns", "maximal data parallelism"] and regimes == sorted(
                   regimes, key=["perfect scaling", "diminishing returns", "maximal data parallelism"].index))]

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    bb = [b for b, s in zip(B, S) if s]
    ss = [s for s in S if s]
    ax.loglog(bb, ss, "o-", label=f"{opt}, measured (best lr per B)")
    if f.get("b_crit"):
        import numpy as np
        x = np.logspace(math.log10(min(B)), math.log10(max(B)), 100)
        ax.loglog(x, f["s_min"] * (1 + f["b_crit"] / x), "--", label=f"S_min (1 + B_crit/B), B_crit = {f['b_crit']:.0f}")
    if ss:
        ax.loglog(bb, [ss[0] * bb[0] / b for b in bb], ":", color="grey", label="perfect scaling")
    ax.set_xlabel("global batch size B")
    ax.set_ylabel(f"steps to test accuracy >= {summary['target']:g}")
    ax.set_title("Fashion-MNIST MLP, 2 ranks (mpirun), real training", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "figure.png"), dpi=120)

    st = read_json(os.path.join(study, "study_timing.json"))
    quick = read_json(os.path.join(res, "timing.json"))["quick"]
    md = [timing_line(res) + f" The study itself (shared with mccandlish2018) took {st['wall_s']:.0f} s when it "
          "ran its trials.", "",
          f"Grid: {'`--quick` (3 batch sizes, the sqrt rule lr only: not tuned per batch size)' if quick else 'full'}; "
          f"budget {summary.get('budget')}; target test accuracy {summary['target']:g}.", "",
          md_table(["B", "steps to target", "examples", "best lr", "lr on grid edge", "B_simple at the end",
                    "regime"], rows), "",
          (f"Fit: B_crit = {f['b_crit']:.4g}, S_min = {f['s_min']:.4g}, E_min = {f['e_min']:.4g}, "
           f"rms log error {f['fit_error']:.3g} ({f['fit_points']} points)." if f.get("b_crit") else
           "Fit: fewer than 2 batch sizes reached the target."), "",
          "Claims checked on these numbers:", "",
          md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks])]
    replace_generated(os.path.join(HERE, "README.md"), "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
