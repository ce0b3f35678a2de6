"""Report of one paper from the shared large-batch studies: the two simulated arms
(papers/_shared/large_batch_nqm.sh: badly scaled sampled NQM; papers/_shared/large_batch_mlp.sh:
sampled teacher-student MLP) and the real study (papers/_shared/real_large_batch.sh). Per simulated
arm: steps to target and best lr per batch size for the paper's optimizers, the ratio of each pair
(baseline / layer-wise), the S(B) fit and the paper's claim checked on that arm's numbers; one
figure with a panel per arm; summary.csv with an `arm` column; the README's generated section
(a --quick run's go to its results folder instead: _lib.report_dir and publish).

Used by papers/you2017_lars, you2019_lamb and nado2021_reality_check report.py:
    report(here, results_dir, optimizers, pairs, checks_fn, title, ...)
where results_dir holds the links sweep/ (NQM), sweep_mlp/ (MLP) and real/, pairs = [(baseline,
adaptive), ...] and checks_fn(table) returns [(claim, measured, ok)] (applied to each arm)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from _lib import (best_per_batch, fits, fmt, md_table, plt, publish, ratio, read_json, report_dir,  # noqa: E402
                  steps, timing_line, write_csv)

# (key, link in RESULTS_DIR, heading, landscape in one line, metric name for the axis)
ARMS = [
    ("nqm", "sweep", "Simulated arm 1: badly scaled sampled NQM (`paper_large_batch_nqm.ini`)",
     "sampled NQM, 4 layers with 100x curvature spread", "loss"),
    ("mlp", "sweep_mlp", "Simulated arm 2: sampled teacher-student MLP (`paper_large_batch_mlp.ini`)",
     "sampled teacher-student MLP (8-16-16-1 tanh)", "test MSE"),
]


def table(sweep_dir, optimizers):
    best = best_per_batch(sweep_dir)
    batches = sorted(best[optimizers[0]])
    return {"batches": batches,
            "steps": {o: [steps(best[o].get(b)) for b in batches] for o in optimizers},
            "lr": {o: [float(best[o][b]["lr"]) if steps(best[o].get(b)) else None for b in batches]
                   for o in optimizers},
            "edge": {o: [best[o][b]["lr_on_edge"] == "true" for b in batches] for o in optimizers}}


def real_section(real_dir, optimizers, pairs, mode):
    """Real training at one large batch: steps to target per optimizer (best lr), and per pair
    whether the layer-wise optimizer needs fewer steps (mode "fewer", You et al.) or the tuned
    baseline suffices, i.e. needs at most 25% more steps (mode "match", Nado et al.)."""
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
            checks.append((f"Tuned {base} suffices at B = {b}: at most 25% more steps than {ada} (ratio <= 1.25)",
                           f"ratio {r:.2f}" if r else "one did not reach", bool(r and r <= 1.25)))
    return out + [f"B = {b}, target test accuracy {summary['target']:g}, best of the lr grid per optimizer "
                  f"(trust coefficient 1, no weight decay); the study (all four optimizers, shared) took "
                  f"{st['wall_s']:.0f} s when it ran its trials.", "",
                  md_table(["optimizer", "steps to target", "best lr", "lr on grid edge"], rows), "",
                  ("Caveat: a best lr on the edge of the 3-value grid means that optimizer may be under-tuned, "
                   "so these ratios are indicative only." if any(r[3] == "true" for r in rows) else
                   "No best lr sits on the grid edge."), "",
                  md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks])]


def sweep_timing(sweep_dir):
    p = os.path.join(sweep_dir, "sweep_timing.json")
    if not os.path.exists(p):
        return "its timing was not recorded"
    st = read_json(p)
    return (f"it took {st['wall_s']:.0f} s when it ran its trials ({st['cpus']} CPUs shared with other jobs, "
            f"1-min load average {st['load_avg_1min']:.1f} at the end)")


def arm_section(key, heading, sweep_dir, t, optimizers, pairs, checks):
    """Markdown of one simulated arm: table, fit, claim checks, edge warnings."""
    fit, summary = fits(sweep_dir)
    B = t["batches"]
    headers = ["B"] + [f"steps {o}" for o in optimizers] + [f"{a} / {b}" for a, b in pairs] + \
              [f"lr {o}" for o in optimizers]
    rows = [[b] + [t["steps"][o][i] if t["steps"][o][i] is not None else "not reached" for o in optimizers]
            + [ratio(t["steps"][a][i], t["steps"][c][i]) for a, c in pairs]
            + [t["lr"][o][i] for o in optimizers] for i, b in enumerate(B)]
    edges = [f"{o} at B={b}" for o in optimizers for b, e in zip(B, t["edge"][o]) if e]
    medians = []
    for a, c in pairs:
        r = [x for x in (ratio(p, q) for p, q in zip(t["steps"][a], t["steps"][c])) if x is not None]
        if r:
            medians.append(f"{a} / {c}: median {float(np.median(r)):.2f} over the {len(r)} batch sizes both reach "
                           f"(range {min(r):.2f} .. {max(r):.2f})")
    failed = [claim for claim, _, ok in checks if not ok]
    verdict = ("All claims checked above hold on this arm." if not failed else
               f"**This arm does not confirm:** {'; '.join(failed)}.")
    return ["", "### " + heading, "",
            f"Target {summary.get('metric', 'metric')} < {summary['target']:g}, max {summary.get('max_steps', '?')} "
            f"steps; the shared sweep (all five optimizers, reused by the other papers): {sweep_timing(sweep_dir)}.", "",
            "Steps to target with the best lr per batch size (ratios > 1: the second optimizer needs fewer steps):", "",
            md_table(headers, rows), "",
            "Step ratios: " + ("; ".join(medians) if medians else "no batch size reached by both") + ".", "",
            md_table(["optimizer", "B_crit", "S_min", "rms log error"],
                     [[o, fit[o]["b_crit"], fit[o]["s_min"], fit[o]["fit_error"]] for o in optimizers if o in fit]), "",
            "Claims checked on these numbers (thresholds in report.py):", "",
            md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks]),
            "", verdict, "",
            ("Best lr on the edge of the lr grid: " + ", ".join(edges) + " (that optimizer may be under-tuned there).")
            if edges else "No best lr sits on the edge of the lr grid."], rows


def report(here, results_dir, optimizers, pairs, checks_fn, title, real_mode="fewer",
           real_optimizers=None, real_pairs=None):
    out = report_dir(here, results_dir)  # the paper folder, or results_quick/ for --quick
    arms = []
    for key, link, heading, landscape, metric in ARMS:
        d = os.path.join(results_dir, link)
        if os.path.exists(os.path.join(d, "steps_vs_batch.csv")):
            arms.append((key, heading, landscape, metric, d, table(d, optimizers)))
        else:
            arms.append((key, heading, landscape, metric, d, None))

    md = [timing_line(results_dir)]
    csv_rows = []
    fig, axes = plt.subplots(1, len(arms), figsize=(5.6 * len(arms), 4.6))
    for ax, (key, heading, landscape, metric, d, t) in zip(np.atleast_1d(axes), arms):
        if t is None:
            md += ["", "### " + heading, "", f"Not run (no results in {d})."]
            ax.set_axis_off()
            continue
        checks = checks_fn(t)
        lines, rows = arm_section(key, heading, d, t, optimizers, pairs, checks)
        md += lines
        csv_rows += [[key] + [v if v != "not reached" else None for v in r] for r in rows]
        _, summary = fits(d)
        for o in optimizers:
            bb = [b for b, s in zip(t["batches"], t["steps"][o]) if s]
            ax.loglog(bb, [s for s in t["steps"][o] if s], "o-", ms=4, label=o)
        ax.set_xlabel("batch size B")
        ax.set_ylabel(f"steps to {metric} < {summary['target']:g} (best lr per B)")
        ax.set_title(f"{landscape}\n{title}", fontsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=120)
    write_csv(os.path.join(out, "summary.csv"),
              ["arm", "batch_size"] + [f"steps_{o}" for o in optimizers] + [f"ratio_{a}_over_{c}" for a, c in pairs]
              + [f"lr_{o}" for o in optimizers], csv_rows)

    md += real_section(os.path.join(results_dir, "real"), real_optimizers or optimizers, real_pairs or pairs,
                       real_mode)
    publish(here, results_dir, md)
    return {a[0]: a[5] for a in arms}


__all__ = ["report", "ratio", "fmt", "np"]
