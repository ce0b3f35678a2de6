"""Shallue et al. 2019 report from the real Fashion-MNIST Simple CNN study. usage: report.py RESULTS_DIR

Regimes per step of the batch-size grid, from the measured S(B): with k = B_next / B,
perfect scaling if S(B_next)/S(B) <= 1.25/k (within 25% of 1/k), maximal data parallelism if
S(B_next)/S(B) >= 0.8 (less than 20% fewer steps), diminishing returns in between."""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _lib import (best_per_batch, claims_section, fits, md_table, plt, publish, read_csv,  # noqa: E402
                  read_json, report_dir, results_arg, steps, timing_line, write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["perfect scaling", "diminishing returns", "maximal data parallelism"]


def regime(ratio, k):
    if ratio <= 1.25 / k:
        return ORDER[0]
    if ratio >= 0.8:
        return ORDER[2]
    return ORDER[1]


def trial_records(study_dir):
    """trials.csv rows of a study, each with the start time of its `batchlab train` run."""
    dirs = {t["trial_id"]: t["dir"] for t in read_csv(os.path.join(study_dir, "real_trials.csv"), ["trial_id", "dir"])}
    rows = read_csv(os.path.join(study_dir, "trials.csv"), ["trial_id", "wall_s", "lr_multiplier"])
    for t in rows:
        t["started_utc"] = read_json(os.path.join(study_dir, dirs[t["trial_id"]], "summary.json"))["provenance"][
            "started_utc"]
    return rows


def fmt_steps(s):
    return f"{s:.0f}" if s else "not reached"


def main():
    res = results_arg()
    out = report_dir(HERE, res)  # the paper folder, or results_quick/ for --quick
    study = os.path.join(res, "study")
    best = best_per_batch(study)
    opt = next(iter(best))
    rows_b = best[opt]
    fit, summary = fits(study)
    ns = {p["batch_size"]: p["b_simple"] for p in summary.get("noise_scale", {}).get("optimizers", {})
          .get(opt, {}).get("per_batch", [])}
    B = sorted(rows_b)
    S_rule = {b: steps(rows_b[b]) for b in B}
    # The lr check (full run only): other multipliers of the rule's lr at the batch sizes where the
    # steps plateaued; S(B) there is the best over all lrs that ran.
    check_dir = os.path.join(res, "lr_check")
    other = {}  # {B: {multiplier: steps or None}}, multipliers other than the rule's (1)
    if os.path.isdir(check_dir):
        for t in read_csv(os.path.join(check_dir, "trials.csv"), ["batch_size", "lr_multiplier", "status"]):
            m = float(t["lr_multiplier"])
            if m != 1.0:
                other.setdefault(int(t["batch_size"]), {})[m] = (
                    float(t["steps_to_target"]) if t["status"] == "reached" else None)
    mults = sorted({m for d in other.values() for m in d})
    best_s, best_lr = {}, {}
    for b in B:
        cands = [(S_rule[b], 1.0)] + [(st, m) for m, st in other.get(b, {}).items()]
        cands = [(st, m) for st, m in cands if st]
        best_s[b], m = min(cands) if cands else (None, 1.0)
        best_lr[b] = float(rows_b[b]["lr"]) * m
    S = [best_s[b] for b in B]
    rows, regimes = [], []
    for i, b in enumerate(B):
        reg, ratio = "—", None
        if i + 1 < len(B) and S[i] and S[i + 1]:
            ratio = S[i + 1] / S[i]
            reg = regime(ratio, B[i + 1] / b)
            regimes.append(reg)
        rows.append([b, S_rule[b] if S_rule[b] else rows_b[b]["status"],
                     " / ".join(fmt_steps(other[b].get(m)) for m in mults) if b in other else "—",
                     S[i] if S[i] else "not reached", S[i] * b if S[i] else None, best_lr[b], ns.get(b), ratio,
                     f"{reg} (to B={B[i + 1]})" if reg != "—" else "—"])
    mult_names = " / ".join(f"{m:g}x" for m in mults)
    write_csv(os.path.join(out, "summary.csv"),
              ["batch_size", "steps_rule_lr", f"steps_at_{mult_names.replace(' / ', '_').replace('x', 'x_lr')}"
               if mults else "steps_other_lr", "steps_to_target", "examples_to_target", "best_lr",
               "b_simple", "steps_ratio_to_next", "regime_to_next"], rows)
    f = fit.get(opt, {})
    # In order: each regime appears, and none comes back after a later one.
    ordered = all(ORDER.index(a) <= ORDER.index(b) for a, b in zip(regimes, regimes[1:]))
    checks = [("Three regimes: perfect scaling, diminishing returns, maximal data parallelism, in that order",
               " -> ".join(regimes) if regimes else "—", set(regimes) == set(ORDER) and ordered)]
    if other:
        checks.append((f"(ours) The rule's lr is not what limits the large batches: no other lr ({mult_names} the "
                       "rule's) cuts their steps by more than 20%",
                       "; ".join(f"B={b}: {fmt_steps(S_rule[b])} at the rule's lr, "
                                 + ", ".join(f"{fmt_steps(st)} at {m:g}x" for m, st in sorted(other[b].items()))
                                 for b in sorted(other)),
                       all(st is None or (S_rule[b] and st >= 0.8 * S_rule[b])
                           for b in other for st in other[b].values())))

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    bb = [b for b, s in zip(B, S) if s]
    ss = [s for s in S if s]
    ax.loglog(bb, ss, "o-", label=f"{opt} {rows_b[B[0]]['momentum']}, measured" +
              (" (best lr where several ran)" if other else " (the sqrt rule's lr)"))
    for m, marker in zip(mults, "x+^v"):
        cb = [b for b in sorted(other) if other[b].get(m)]
        if cb:
            ax.loglog(cb, [other[b][m] for b in cb], marker, label=f"{m:g}x the rule's lr")
    if f.get("b_crit"):
        x = np.logspace(math.log10(min(B)), math.log10(max(B)), 100)
        ax.loglog(x, f["s_min"] * (1 + f["b_crit"] / x), "--",
                  label=f"fit S_min (1 + B_crit/B): B_crit = {f['b_crit']:.0f}, S_min = {f['s_min']:.0f}")
    if ss:
        ax.loglog(bb, [ss[0] * bb[0] / b for b in bb], ":", color="grey", label="perfect scaling from the smallest B")
    for i in range(len(bb) - 1):
        k = bb[i + 1] / bb[i]
        ax.annotate(regime(ss[i + 1] / ss[i], k).split()[0], ((bb[i] * bb[i + 1]) ** 0.5, (ss[i] * ss[i + 1]) ** 0.5),
                    fontsize=7, ha="center", va="bottom", color="tab:red")
    ax.set_xlabel("global batch size B")
    ax.set_ylabel(f"steps to test accuracy >= {summary['target']:g}")
    ax.legend(fontsize=7)
    ax2.loglog(bb, [s * b for s, b in zip(ss, bb)], "o-")
    ax2.set_xlabel("global batch size B")
    ax2.set_ylabel("examples to target (S x B)")
    fig.suptitle("Shallue et al. 2019 on this machine: Fashion-MNIST Simple CNN, 2 ranks (mpirun), real training",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=120)

    # The trials of this run: the main study's, and the lr check's other multipliers (its 1x trials
    # are the main study's, reused). A trial that started before the main study did was copied from
    # an earlier run by `[study] reuse` (run.sh starts its studies afresh).
    studies = [d for d in (study, check_dir) if os.path.isdir(d)]
    trials = trial_records(study) + [t for t in (trial_records(check_dir) if other else [])
                                     if float(t["lr_multiplier"]) != 1.0]
    trial_s = sum(float(t["wall_s"]) for t in trials)
    this_run_s = sum(read_json(os.path.join(d, "study_timing.json"))["wall_s"] for d in studies)
    began = read_json(os.path.join(study, "summary.json"))["provenance"]["started_utc"]
    reused = sum(t["started_utc"] < began for t in trials)
    quick = read_json(os.path.join(res, "timing.json"))["quick"]
    grid = ("`--quick`: 5 batch sizes to accuracy 0.85, the sqrt rule's lr only" if quick else
            f"full: {len(B)} batch sizes at the sqrt rule's lr (0.03 at B = 128), "
            + (f"and {mult_names} of it at B = {', '.join(str(b) for b in sorted(other))}" if other
               else "not tuned per batch size"))
    md = [timing_line(res) + f" The {len(trials)} trials ran for {trial_s:.0f} s in all ({trial_s / 3600:.2f} h, "
          "sum of trials.csv wall_s)" + (f"; {reused} of them were reused from earlier runs with the same settings "
                                         f"(`[study] reuse`), so the studies of this run took {this_run_s:.0f} s."
                                         if reused else "."), "",
          f"Grid: {grid}; momentum 0.9; budget {summary.get('budget')}; target test accuracy {summary['target']:g}.",
          "",
          md_table(["B", "steps, rule's lr", f"steps, {mult_names or 'other'} lr", "steps to target (best)", "examples", "best lr",
                    "B_simple at the end", "S(next B) / S(B)", "regime"], rows), "",
          (f"Fit (the engine's, on the rule's lr): B_crit = {f['b_crit']:.4g}, S_min = {f['s_min']:.4g}, E_min = {f['e_min']:.4g}, "
           f"rms log error {f['fit_error']:.3g} ({f['fit_points']} points)." if f.get("b_crit") else
           "Fit: fewer than 2 batch sizes reached the target."), "",
          ] + claims_section(checks)
    publish(HERE, res, md)


if __name__ == "__main__":
    main()
