"""Shallue et al. 2019 report from the real Fashion-MNIST Simple CNN study. usage: report.py RESULTS_DIR

Regimes per step of the batch-size grid, from the measured S(B): with k = B_next / B,
perfect scaling if S(B_next)/S(B) <= 1.25/k (within 25% of 1/k), maximal data parallelism if
S(B_next)/S(B) >= 0.8 (less than 20% fewer steps), diminishing returns in between."""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _lib import (best_per_batch, claims_section, fits, md_table, plt, publish, read_csv, read_json,  # noqa: E402
                  results_arg, steps, timing_line, write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["perfect scaling", "diminishing returns", "maximal data parallelism"]


def regime(ratio, k):
    if ratio <= 1.25 / k:
        return ORDER[0]
    if ratio >= 0.8:
        return ORDER[2]
    return ORDER[1]


def reused_trials(study_dir):
    """Trials of a study copied from earlier studies by `[study] reuse`: they started before the
    study did (run.sh starts every study afresh, so no trial predates its study otherwise)."""
    began = read_json(os.path.join(study_dir, "summary.json"))["provenance"]["started_utc"]
    return sum(read_json(os.path.join(study_dir, t["dir"], "summary.json"))["provenance"]["started_utc"] < began
               for t in read_csv(os.path.join(study_dir, "real_trials.csv"), ["dir"]))


def fmt_steps(s):
    return f"{s:.0f}" if s else "not reached"


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
    S_rule = {b: steps(rows_b[b]) for b in B}
    # The lr check (full run only): twice the rule's lr at the large batch sizes; the better of the
    # two lrs is S(B) where both ran.
    check_dir = os.path.join(res, "lr_check")
    check = best_per_batch(check_dir).get(opt, {}) if os.path.isdir(check_dir) else {}
    S_check = {b: steps(r) for b, r in check.items()}
    best_s = {b: min([s for s in (S_rule[b], S_check.get(b)) if s], default=None) for b in B}
    S = [best_s[b] for b in B]
    rows, regimes = [], []
    for i, b in enumerate(B):
        reg, ratio = "—", None
        if i + 1 < len(B) and S[i] and S[i + 1]:
            ratio = S[i + 1] / S[i]
            reg = regime(ratio, B[i + 1] / b)
            regimes.append(reg)
        lr_best = rows_b[b]["lr"] if S_rule[b] == best_s[b] else check[b]["lr"]
        rows.append([b, S_rule[b] if S_rule[b] else rows_b[b]["status"],
                     (S_check[b] if S_check.get(b) else check[b]["status"]) if b in check else "—",
                     S[i] if S[i] else "not reached", S[i] * b if S[i] else None, float(lr_best), ns.get(b), ratio,
                     f"{reg} (to B={B[i + 1]})" if reg != "—" else "—"])
    write_csv(os.path.join(HERE, "summary.csv"),
              ["batch_size", "steps_rule_lr", "steps_2x_rule_lr", "steps_to_target", "examples_to_target", "best_lr",
               "b_simple", "steps_ratio_to_next", "regime_to_next"], rows)
    f = fit.get(opt, {})
    # In order: each regime appears, and none comes back after a later one.
    ordered = all(ORDER.index(a) <= ORDER.index(b) for a, b in zip(regimes, regimes[1:]))
    checks = [("Three regimes: perfect scaling, diminishing returns, maximal data parallelism, in that order",
               " -> ".join(regimes) if regimes else "—", set(regimes) == set(ORDER) and ordered)]
    if check:
        helped = [b for b in sorted(check) if S_check.get(b) and (not S_rule[b] or S_check[b] < S_rule[b])]
        checks.append(("(ours) The rule's lr is not what limits the large batches: 2x lr does not cut their steps "
                       "by more than 20%",
                       ", ".join(f"B={b}: {fmt_steps(S_rule[b])} -> {fmt_steps(S_check.get(b))}" for b in sorted(check)),
                       all(S_check.get(b) is None or (S_rule[b] and S_check[b] >= 0.8 * S_rule[b]) for b in check)))

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    bb = [b for b, s in zip(B, S) if s]
    ss = [s for s in S if s]
    ax.loglog(bb, ss, "o-", label=f"{opt} {rows_b[B[0]]['momentum']}, measured" +
              (" (best of the rule's lr and 2x)" if check else " (the sqrt rule's lr)"))
    if check:
        cb = [b for b in sorted(check) if S_check.get(b)]
        ax.loglog(cb, [S_check[b] for b in cb], "x", color="tab:green", label="2x the rule's lr")
        rb = [b for b in B if S_rule[b]]
        ax.loglog(rb, [S_rule[b] for b in rb], "+", color="tab:orange", label="the rule's lr")
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
    fig.savefig(os.path.join(HERE, "figure.png"), dpi=120)

    studies = [d for d in (study, check_dir) if os.path.isdir(d)]
    trials = [t for d in studies for t in read_csv(os.path.join(d, "trials.csv"), ["wall_s"])]
    trial_s = sum(float(t["wall_s"]) for t in trials)
    this_run_s = sum(read_json(os.path.join(d, "study_timing.json"))["wall_s"] for d in studies)
    reused = sum(reused_trials(d) for d in studies)
    quick = read_json(os.path.join(res, "timing.json"))["quick"]
    grid = ("`--quick`: 5 batch sizes to accuracy 0.85, the sqrt rule's lr only" if quick else
            f"full: {len(B)} batch sizes, the sqrt rule's lr only (0.03 at B = 128; not tuned per batch size)")
    md = [timing_line(res) + f" The {len(trials)} trials ran for {trial_s:.0f} s in all ({trial_s / 3600:.2f} h, "
          "sum of trials.csv wall_s)" + (f"; {reused} of them were reused from earlier runs with the same settings "
                                         f"(`[study] reuse`), so the studies of this run took {this_run_s:.0f} s."
                                         if reused else "."), "",
          f"Grid: {grid}; momentum 0.9; budget {summary.get('budget')}; target test accuracy {summary['target']:g}.",
          "",
          md_table(["B", "steps, rule's lr", "steps, 2x lr", "steps to target (best)", "examples", "best lr",
                    "B_simple at the end", "S(next B) / S(B)", "regime"], rows), "",
          (f"Fit (the engine's, on the rule's lr): B_crit = {f['b_crit']:.4g}, S_min = {f['s_min']:.4g}, E_min = {f['e_min']:.4g}, "
           f"rms log error {f['fit_error']:.3g} ({f['fit_points']} points)." if f.get("b_crit") else
           "Fit: fewer than 2 batch sizes reached the target."), "",
          ] + claims_section(checks)
    publish(HERE, md)


if __name__ == "__main__":
    main()
