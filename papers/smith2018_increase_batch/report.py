"""Smith et al. 2018 report: decaying the lr vs increasing the batch at equal examples (NQM).
usage: report.py RESULTS_DIR

RESULTS_DIR holds six batchlab sweeps (run.sh): lr_decay_<steps> and batch_increase_<steps>, each
run to the end of one phase with the exact expected loss recorded (curves.csv, log-spaced steps)
and the final loss in trials.csv. Both arms come from batchlab; nothing is recomputed here."""
import configparser
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _lib import md_table, plt, read_csv, replace_generated, results_arg, timing_line, write_csv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def arm(res, name):
    """[(steps, examples, final_loss, config)] per phase end, and the longest run's curve."""
    runs = []
    for d in glob.glob(os.path.join(res, name + "_*")):
        t = read_csv(os.path.join(d, "trials.csv"), ["status", "final_metric"])[0]
        cfg = configparser.ConfigParser(inline_comment_prefixes=("#",))
        cfg.read(os.path.join(d, "config.ini"))
        steps = int(cfg["study"]["max_steps"])
        curve = read_csv(os.path.join(d, "curves.csv"), ["step", "examples", "lr", "value"])
        runs.append((steps, int(curve[-1]["examples"]), float(t["final_metric"]), cfg, curve, t["status"]))
    if len(runs) != 3:
        sys.exit(f"{res}: expected 3 runs of {name}, found {len(runs)}")
    runs.sort(key=lambda r: r[0])
    for r in runs:
        if int(r[4][-1]["step"]) != r[0] or r[5] != "not_reached":
            sys.exit(f"{name} ({r[0]} steps): the curve must end at max_steps with the target not reached")
    return runs


def main():
    res = results_arg()
    dec, inc = arm(res, "lr_decay"), arm(res, "batch_increase")
    cfg = dec[0][3]
    L, S = cfg["landscape"], cfg["schedule"]
    b0, lr0 = int(cfg["study"]["batch_sizes"]), float(cfg["study"]["lr_grid"])
    icfg = inc[0][3]["schedule"]
    rows, ok_examples = [], True
    for d, i in zip(dec, inc):
        ok_examples &= d[1] == i[1]
        rows.append([f"{d[1]:,}", d[0], d[2], i[0], i[2], i[2] / d[2]])
    final_d, final_i = dec[-1], inc[-1]

    def phases(curve):
        seen = []
        for r in curve:
            v = float(r["lr"])
            if not seen or seen[-1] != v:
                seen.append(v)
        return seen

    batches = [b0]
    for _ in icfg["batch_milestones"].split(","):
        batches.append(int(round(batches[-1] * float(icfg["batch_factor"]))))
    arms = [["decay lr", " -> ".join(f"{v:g}" for v in phases(final_d[4])), str(b0), final_d[0], f"{final_d[1]:,}", final_d[2]],
            ["increase batch", " -> ".join(f"{v:g}" for v in phases(final_i[4])), " -> ".join(map(str, batches)),
             final_i[0], f"{final_i[1]:,}", final_i[2]]]
    write_csv(os.path.join(HERE, "summary.csv"), ["arm", "lrs", "batch_sizes", "steps", "examples", "final_loss"], arms)
    ratio = final_i[2] / final_d[2]
    checks = [
        ("Both arms process the same examples by each phase end (batchlab's examples column)",
         ", ".join(r[0] for r in rows), ok_examples),
        ("Increasing the batch reaches the same loss as decaying the lr at equal examples (within 10%)",
         f"final loss {final_i[2]:.4g} vs {final_d[2]:.4g} (ratio {ratio:.3f})", abs(ratio - 1) < 0.1),
        ("... in fewer optimizer steps", f"{final_i[0]} vs {final_d[0]} steps", final_i[0] < final_d[0]),
    ]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4))
    for runs, style, label in ((dec, "-", "decay lr x%s" % S["factor"]),
                               (inc, "--", "increase batch x%s" % icfg["batch_factor"])):
        c = runs[-1][4]
        ex = [int(r["examples"]) for r in c]
        st = [int(r["step"]) for r in c]
        v = [float(r["value"]) for r in c]
        a1.loglog(ex[1:], v[1:], style, label=label)
        a2.loglog(st[1:], v[1:], style, label=label)
    a1.set_xlabel("examples")
    a2.set_xlabel("steps (updates)")
    for a in (a1, a2):
        a.set_ylabel("expected loss (exact, analytic NQM)")
        a.legend()
    a1.set_title(f"NQM d={L['dim']}, SGD, B0={b0}, lr0={lr0:g}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "figure.png"), dpi=120)

    md = [timing_line(res), "",
          md_table(["arm", "lr per phase", "batch per phase", "steps", "examples", "final loss"], arms), "",
          "Loss at the end of each phase (equal examples; each a separate batchlab run to that step):", "",
          md_table(["examples", "decay lr: steps", "decay lr: loss", "increase batch: steps", "increase batch: loss", "ratio"], rows), "",
          "Claims checked on these numbers:", "",
          md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks])]
    replace_generated(os.path.join(HERE, "README.md"), "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
