"""Zhang et al. 2019 report: README numbers, summary.csv and figure.png from the sweep results.
usage: report.py RESULTS_DIR   (RESULTS_DIR/sweep is the batchlab sweep output)"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from _lib import (best_per_batch, claims_section, fits, fmt, md_table, plt, publish, report_dir,  # noqa: E402
                  results_arg, steps, timing_line, write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))
OPTS = ["sgd", "momentum", "precond", "ema"]


def main():
    res = results_arg()
    out = report_dir(HERE, res)  # the paper folder, or results_quick/ for --quick
    sweep = os.path.join(res, "sweep")
    best = best_per_batch(sweep)
    fit, summary = fits(sweep)
    batches = sorted(best["sgd"])
    S = {o: np.array([steps(best[o].get(b)) or np.nan for b in batches]) for o in OPTS}
    lr_sgd = np.array([float(best["sgd"][b]["lr"]) for b in batches])
    edges = sorted({b for o in OPTS for b, r in best[o].items() if r["lr_on_edge"] == "true"})

    # ---- table ----
    headers = ["B"] + [f"steps {o}" for o in OPTS] + ["momentum / sgd", "precond / sgd", "ema / sgd",
                                                         "best lr (sgd)"]
    rows = []
    for i, b in enumerate(batches):
        rows.append([b] + [S[o][i] for o in OPTS] + [S["sgd"][i] / S[o][i] for o in OPTS[1:]] + [lr_sgd[i]])
    write_csv(os.path.join(out, "summary.csv"),
              ["batch_size"] + [f"steps_{o}" for o in OPTS] + ["speedup_momentum", "speedup_precond",
                                                               "speedup_ema", "best_lr_sgd"], rows)

    # ---- the claims, checked on the numbers ----
    sp = {o: S["sgd"] / S[o] for o in OPTS[1:]}
    small, large = 0, len(batches) - 1
    halving_small = S["sgd"][1] / S["sgd"][0]
    halving_large = S["sgd"][large] / S["sgd"][large - 1]
    lr_ratio_small = lr_sgd[1] / lr_sgd[0]

    def same_at_small(o, name):  # in the perfect-scaling regime every optimizer takes ~the same steps
        return (f"{name} does nothing at small B", f"speedup {sp[o][small]:.2f}x at B={batches[small]}",
                abs(sp[o][small] - 1) < 0.1)

    def helps_at_large(o, name):  # where SGD plateaus, the optimizer lowers the plateau (> 2x fewer steps)
        return (f"{name} helps at large B (lower plateau)", f"speedup {sp[o][large]:.2f}x at B={batches[large]}",
                sp[o][large] > 2)

    checks = [
        ("SGD: perfect scaling at small B, then a plateau",
         f"S(2B)/S(B) = {halving_small:.3f} at B={batches[0]}, {halving_large:.3f} at B={batches[large - 1]}",
         halving_small < 0.55 and halving_large > 0.9),
        ("SGD: best lr grows ~linearly in B, then saturates near 2/h_max = 2",
         f"lr(2B)/lr(B) = {lr_ratio_small:.2f} at small B; best lr at B={batches[-1]}: {lr_sgd[-1]:.3g}",
         1.6 < lr_ratio_small < 2.4 and 0.5 < lr_sgd[-1] < 2.0),
        same_at_small("momentum", "Momentum"),
        helps_at_large("momentum", "Momentum"),
        helps_at_large("precond", "Preconditioning"),
        same_at_small("precond", "Preconditioning"),
        ("EMA helps at small B",
         f"speedup {sp['ema'][small]:.2f}x at B={batches[small]}, {sp['ema'][large]:.2f}x at B={batches[large]}",
         sp["ema"][small] > 1.05),
    ]
    b_crit = {o: fit[o]["b_crit"] for o in OPTS if o in fit}
    checks.append(("Momentum and preconditioning move the critical batch size up",
                   ", ".join(f"B_crit {o} = {fmt(b_crit[o])}" for o in OPTS),
                   b_crit["momentum"] > b_crit["sgd"] and b_crit["precond"] > b_crit["sgd"]))

    # ---- figure ----
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, o in enumerate(OPTS):
        a1.loglog(batches, S[o], "o-", ms=3, color=f"C{i}", label=o)
        f = fit.get(o)
        if f and f.get("b_crit"):
            bb = np.array(batches, dtype=float)
            a1.loglog(bb, f["s_min"] * (1 + f["b_crit"] / bb), "--", lw=0.8, color=f"C{i}")
    a1.loglog(batches, S["sgd"][0] * batches[0] / np.array(batches, dtype=float), ":", color="grey",
              label="perfect scaling")
    a1.set_xlabel("batch size B")
    a1.set_ylabel("steps to E[L] < 0.01")
    a1.set_title("NQM (d=1e4, h_i=c_i=1/i): best lr per B; dashed: S_min(1+B_crit/B)")
    a1.legend()
    for i, o in enumerate(OPTS[1:], start=1):
        a2.semilogx(batches, sp[o], "o-", ms=3, color=f"C{i}", label=f"{o} / sgd")
    a2.axhline(1, color="grey", lw=0.8)
    a2.set_xlabel("batch size B")
    a2.set_ylabel("speedup over SGD (steps_sgd / steps)")
    a2.set_yscale("log")
    a2.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=120)

    # ---- README ----
    md = [timing_line(res), "",
          "Steps to target (best lr per batch size; EMA also its best decay) and speedups over SGD:", "",
          md_table(headers, rows), "",
          "Fit S(B) = S_min (1 + B_crit / B) per optimizer (summary.json):", "",
          md_table(["optimizer", "B_crit", "S_min", "E_min", "rms log error", "bounded fit"],
                   [[o, fit[o]["b_crit"], fit[o]["s_min"], fit[o]["e_min"], fit[o]["fit_error"],
                     str(fit[o]["fit_bounded"]).lower()] for o in OPTS if o in fit]), "",
          *claims_section(checks, "Claims checked on these numbers (thresholds in report.py):"), "",
          ("Best lr on the edge of the grid at batch sizes: " + ", ".join(map(str, edges)))
          if edges else "No best lr sits on the edge of the lr grid.",
          "", "Trials: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary["trials"].items()) + "."]
    publish(HERE, res, md)


if __name__ == "__main__":
    main()
