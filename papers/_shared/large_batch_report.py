"""Report of one paper from the shared large-batch sweep (papers/_shared/large_batch_nqm.sh):
table of steps to target and best lr per batch size for the paper's optimizers, the ratio of each
pair (baseline / layer-wise), a figure, and the README's generated section.

Used by papers/you2017_lars, you2019_lamb and nado2021_reality_check report.py:
    report(here, results_dir, sweep_dir, optimizers, pairs, checks_fn, title)
where pairs = [(baseline, adaptive), ...] and checks_fn(table) returns [(claim, measured, ok)]."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from _lib import (best_per_batch, fits, fmt, md_table, plt, read_json, replace_generated,  # noqa: E402
                  steps, timing_line, write_csv)


def table(sweep_dir, optimizers):
    best = best_per_batch(sweep_dir)
    batches = sorted(best[optimizers[0]])
    return {"batches": batches,
            "steps": {o: [steps(best[o].get(b)) for b in batches] for o in optimizers},
            "lr": {o: [float(best[o][b]["lr"]) if steps(best[o].get(b)) else None for b in batches]
                   for o in optimizers},
            "edge": {o: [best[o][b]["lr_on_edge"] == "true" for b in batches] for o in optimizers}}


def ratio(a, b):
    return a / b if (a is not None and b is not None) else None


def real_section(real_dir, optimizers, pairs, mode):
    """Real training at one large batch: steps to target per optimizer (best lr), and per pair
    whether the layer-wise optimizer needs fewer steps (mode "fewer", You et al.) or the tuned
    baseline matches it within 25% (mode "match", Nado et al.)."""
    out = ["", "### Real training (Fashion-MNIST MLP, 2 ranks, `batchlab study`)", ""]
    if not os.path.exists(os.path.join(real_dir, "summary.json")):
        return out + ["Not run (no results in " + real_dir + ")."]
    best = best_per_batch(real_dir)
    _, summary = fits(real_dir)
    b = sorted(best[optimizers[0]])[-1]
    st = read_json(os.path.join(real_dir, "study_timing.json"))
    rows = [[o, steps(best[o][b]) if steps(best[o][b]) else best[o][b]["status"].replace("_", " "),
             float(best[o][b]["lr"]) if steps(best[o][b]) else None, best[o][b]["lr_on_edge"]] for o in optimizers]
    checks = []
    for base, ada in pairs:
        r = ratio(steps(best[base][b]), steps(best[ada][b]))
        if mode == "fewer":
            checks.append((f"{ada} needs fewer steps than {base} at B = {b} (ratio > 1.2)",
                           f"ratio {r:.2f}" if r else "one did not reach", bool(r and r > 1.2)))
        else:
            checks.append((f"Tuned {base} matches {ada} at B = {b} (steps within 25%)",
                           f"ratio {r:.2f}" if r else "one did not reach", bool(r and 0.8 <= r <= 1.25)))
    return out + [f"B = {b}, target test accuracy {summary['target']:g}, best of the lr grid per optimizer "
                  f"(trust coefficient 1, no weight decay); the study (all four optimizers, shared) took "
                  f"{st['wall_s']:.0f} s when it ran its trials.", "",
                  md_table(["optimizer", "steps to target", "best lr", "lr on grid edge"], rows), "",
                  ("Caveat: a best lr on the edge of the 3-value grid means that optimizer may be under-tuned, "
                   "so these ratios are indicative only." if any(r[3] == "true" for r in rows) else
                   "No best lr sits on the grid edge."), "",
                  md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks])]


def report(here, results_dir, sweep_dir, optimizers, pairs, checks_fn, title, real_mode="fewer",
           real_optimizers=None, real_pairs=None):
    t = table(sweep_dir, optimizers)
    fit, summary = fits(sweep_dir)
    B = t["batches"]
    headers = ["B"] + [f"steps {o}" for o in optimizers] + [f"{a} / {b}" for a, b in pairs] + \
              [f"lr {o}" for o in optimizers]
    rows = []
    for i, b in enumerate(B):
        rows.append([b] + [t["steps"][o][i] if t["steps"][o][i] is not None else "not reached" for o in optimizers]
                    + [ratio(t["steps"][a][i], t["steps"][c][i]) for a, c in pairs]
                    + [t["lr"][o][i] for o in optimizers])
    write_csv(os.path.join(here, "summary.csv"),
              ["batch_size"] + [f"steps_{o}" for o in optimizers] + [f"ratio_{a}_over_{c}" for a, c in pairs]
              + [f"lr_{o}" for o in optimizers],
              [[r if r != "not reached" else None for r in row] for row in rows])
    checks = checks_fn(t)

    fig, ax = plt.subplots(figsize=(6.6, 4.8))
    for i, o in enumerate(optimizers):
        bb = [b for b, s in zip(B, t["steps"][o]) if s]
        ax.loglog(bb, [s for s in t["steps"][o] if s], "o-", ms=4, label=o)
    ax.set_xlabel("batch size B")
    ax.set_ylabel(f"steps to loss < {summary['target']:g} (best lr per B)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(here, "figure.png"), dpi=120)

    st = read_json(os.path.join(sweep_dir, "sweep_timing.json"))
    edges = [f"{o} at B={b}" for o in optimizers for b, e in zip(B, t["edge"][o]) if e]
    md = [timing_line(results_dir) + f" The shared sweep (all five optimizers, reused by the other papers) took "
          f"{st['wall_s']:.0f} s when it ran its trials.", "",
          "Steps to target with the best lr per batch size (ratios > 1: the second optimizer needs fewer steps):", "",
          md_table(headers, rows), "",
          md_table(["optimizer", "B_crit", "S_min", "rms log error"],
                   [[o, fit[o]["b_crit"], fit[o]["s_min"], fit[o]["fit_error"]] for o in optimizers if o in fit]), "",
          "Claims checked on these numbers (thresholds in report.py):", "",
          md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks]),
          "", ("Best lr on the edge of the lr grid: " + ", ".join(edges)) if edges else
          "No best lr sits on the edge of the lr grid."]
    md += real_section(os.path.join(results_dir, "real"), real_optimizers or optimizers, real_pairs or pairs,
                       real_mode)
    replace_generated(os.path.join(here, "README.md"), "\n".join(md))
    print("\n".join(md))
    return t


__all__ = ["report", "ratio", "fmt", "np"]
