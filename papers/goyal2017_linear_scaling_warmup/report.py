"""Goyal et al. 2017 (simulated part) report: where linear scaling and warm-up hold and break.
usage: report.py RESULTS_DIR   (subdirectories written by run.sh: tune_ref, linear, ...)"""
import configparser
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from _lib import (best_per_batch, claims_section, claims_table, md_table, plt, publish, read_csv,  # noqa: E402
                  read_json, report_dir, results_arg, steps, timing_line, write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = ["linear", "linear_warmup", "sqrt", "tuned", "tuned_warmup"]


def trial_by_batch(d):
    """{batch_size: trials.csv row} for a one-lr study (the rule's own lr, status)."""
    return {int(r["batch_size"]): r for r in read_csv(os.path.join(d, "trials.csv"), ["batch_size", "lr", "status"])}


def status_or_steps(row):
    s = steps(row)
    return s if s is not None else row["status"].replace("_", " ")


def real_section(real):
    """Real training: the linear rule at each batch size, without and with gradual warm-up."""
    out = ["", "### Real training (Fashion-MNIST MLP, 2 ranks, `batchlab study`)", ""]
    if not os.path.exists(os.path.join(real, "warmup", "trials.csv")):
        return out + ["Not run (no results in " + real + ")."]
    runs = {}
    for name in ("no_warmup", "warmup"):
        for r in read_csv(os.path.join(real, name, "trials.csv"), ["batch_size", "lr", "status", "steps_to_target"]):
            runs[(name, int(r["batch_size"]))] = r
    c = configparser.ConfigParser(inline_comment_prefixes=("#",))
    c.read(os.path.join(real, "warmup", "config.ini"))
    target = c["train"]["target"] if "target" in c["train"] else "?"
    wsteps = c["train"].get("warmup-steps", "?")
    rows = []
    bs = sorted({b for _, b in runs})
    for b in bs:
        row = [b, float(runs[("no_warmup", b)]["lr"])]
        for name in ("no_warmup", "warmup"):
            r = runs[(name, b)]
            row += [int(r["steps_to_target"]) if r["status"] == "reached" else r["status"].replace("_", " "),
                    float(r["final_metric"])]
        rows.append(row)
    t = read_json(os.path.join(real, "timing.json"))
    ok = lambda name, b: runs[(name, b)]["status"] == "reached"  # noqa: E731
    small = bs[0]
    fails = [b for b in bs if not ok("no_warmup", b)]
    rescued = [b for b in fails if ok("warmup", b)]
    checks = [
        (f"Linear scaling holds at B = {small} without warm-up", runs[("no_warmup", small)]["status"],
         ok("no_warmup", small)),
        ("Without warm-up the linear rule breaks at some larger B",
         "fails at B = " + ", ".join(map(str, fails)) if fails else "never fails", bool(fails)),
        ("Gradual warm-up rescues a batch size where the rule fails without it",
         ("rescued: B = " + ", ".join(map(str, rescued))) if rescued else
         "none: " + ", ".join(f"B={b}: {runs[('warmup', b)]['status']}" for b in fails), bool(rescued)),
    ]
    return out + [
        f"lr = 0.03 x B / 128 (linear rule), momentum 0.9, target test accuracy {target}; warm-up: gradual over "
        f"{wsteps} steps from the B = 128 lr. Both studies together took {t['wall_s']:.0f} s here.", "",
        md_table(["B", "linear lr", "no warm-up: steps", "final acc", f"warm-up {wsteps}: steps", "final acc"], rows),
        "", claims_table(checks)]


def main():
    res = results_arg()
    out = report_dir(HERE, res)  # the paper folder, or results_quick/ for --quick
    cfg = configparser.ConfigParser(inline_comment_prefixes=("#",))
    cfg.read(os.path.join(res, "linear", "config.ini"))
    b_ref = float(cfg["scaling"]["batch_ref"])
    lr_ref = float(cfg["scaling"]["lr_ref"])
    warm = int(cfg["schedule"]["warmup_steps"]) if "warmup_steps" in cfg["schedule"] else 0
    cfg_w = configparser.ConfigParser(inline_comment_prefixes=("#",))
    cfg_w.read(os.path.join(res, "linear_warmup", "config.ini"))
    warm = int(cfg_w["schedule"]["warmup_steps"])
    h_max = 1.0  # NQM h_1 = 1^-p = 1 for any curvature_power
    best = {r: best_per_batch(os.path.join(res, r))["sgd"] for r in RUNS}
    lin_trials = trial_by_batch(os.path.join(res, "linear"))
    sqrt_trials = trial_by_batch(os.path.join(res, "sqrt"))
    batches = sorted(best["linear"])

    rows, csv_rows = [], []
    for b in batches:
        lin_lr = float(lin_trials[b]["lr"])
        tuned = best["tuned"][b]
        t_steps = steps(tuned)
        mult = float(tuned["lr"]) / lin_lr if t_steps else None
        l_steps = steps(best["linear"][b])
        rows.append([b, lin_lr, status_or_steps(best["linear"][b]), status_or_steps(best["linear_warmup"][b]),
                     float(sqrt_trials[b]["lr"]), status_or_steps(best["sqrt"][b]),
                     status_or_steps(tuned), mult, status_or_steps(best["tuned_warmup"][b]),
                     (l_steps / t_steps) if (l_steps and t_steps) else None])
        csv_rows.append([b, lin_lr, l_steps, steps(best["linear_warmup"][b]), steps(best["sqrt"][b]), t_steps, mult,
                         steps(best["tuned_warmup"][b])])
    write_csv(os.path.join(out, "summary.csv"),
              ["batch_size", "linear_lr", "steps_linear", "steps_linear_warmup", "steps_sqrt", "steps_tuned",
               "tuned_multiplier", "steps_tuned_warmup"], csv_rows)

    # ---- claims ----
    holds = [b for b, r in zip(batches, rows) if r[9] is not None and r[9] < 1.2]
    b_hold = max(holds) if holds else None
    fail = [b for b in batches if steps(best["linear"][b]) is None]
    b_fail = min(fail) if fail else None
    lr_fail = float(lin_trials[b_fail]["lr"]) if b_fail else None
    fail_w = [b for b in batches if steps(best["linear_warmup"][b]) is None]
    ex0 = steps(best["linear"][batches[0]]) * batches[0]
    ex_hold = steps(best["linear"][b_hold]) * b_hold if b_hold else None
    checks = [
        ("Linear scaling holds at small B (within 20% of the tuned lr's steps; examples ~constant)",
         f"holds up to B = {b_hold}; examples to target {ex0:.3g} at B={batches[0]} vs {ex_hold:.3g} at B={b_hold}",
         b_hold is not None and b_hold >= 4 * batches[0]),
        ("Linear scaling breaks at large B",
         f"first B without reaching: {b_fail} (linear lr {lr_fail:.3g}; stability needs lr < 2/h_max = {2 / h_max:g})"
         if b_fail else "never breaks on this grid", b_fail is not None),
        ("Gradual warm-up extends linear scaling (Goyal et al.'s ImageNet finding)",
         f"with {warm} warm-up steps the first failing B is {min(fail_w) if fail_w else 'none'} (without: {b_fail})",
         bool(fail_w) and b_fail is not None and min(fail_w) > b_fail),
    ]

    # ---- figure ----
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    styles = {"linear": "o-", "linear_warmup": "s--", "sqrt": "^-", "tuned": "k.-", "tuned_warmup": "x:"}
    for r in RUNS:
        bb = [b for b in batches if steps(best[r][b])]
        a1.loglog(bb, [steps(best[r][b]) for b in bb], styles[r], ms=4, label=r.replace("_", " + "))
    bs = np.array(batches, dtype=float)
    a1.loglog(bs, steps(best["linear"][batches[0]]) * batches[0] / bs, ":", color="grey", label="perfect scaling")
    if b_fail:
        a1.axvline(b_fail, color="C3", lw=0.8)
        a1.text(b_fail, a1.get_ylim()[1], " linear lr fails", color="C3", va="top", fontsize=8)
    a1.set_xlabel("batch size B")
    a1.set_ylabel("steps to E[L] < 0.1")
    a1.set_title(f"NQM, SGD: lr = {lr_ref:.3g} B/{b_ref:g}; warm-up {warm} steps")
    a1.legend(fontsize=8)
    tl = [(b, float(best["tuned"][b]["lr"])) for b in batches if steps(best["tuned"][b])]
    a2.loglog([b for b, _ in tl], [x for _, x in tl], "k.-", label="best lr (tuned)")
    a2.loglog(bs, [float(lin_trials[b]["lr"]) for b in batches], "o-", ms=3, label="linear rule")
    a2.loglog(bs, [float(sqrt_trials[b]["lr"]) for b in batches], "^-", ms=3, label="sqrt rule")
    a2.axhline(2 / h_max, color="C3", lw=0.8, label="2 / h_max (stability)")
    a2.set_xlabel("batch size B")
    a2.set_ylabel("lr")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=120)

    md = [timing_line(res), "",
          f"lr_ref = {lr_ref:.4g}: the best lr at batch_ref = {b_ref:g} (tuned by run.sh, step 1). "
          "Steps to target per rule (a word where the run did not reach it; `tuned` = best multiplier of the linear "
          "lr on a log grid; last column = steps of the linear rule / steps tuned):", "",
          md_table(["B", "linear lr", "linear", f"linear + warm-up {warm}", "sqrt lr", "sqrt", "tuned",
                    "best multiplier", "tuned + warm-up", "linear / tuned"], rows), ""]
    publish(HERE, res, md + claims_section(checks) + real_section(os.path.join(res, "real")))


if __name__ == "__main__":
    main()
