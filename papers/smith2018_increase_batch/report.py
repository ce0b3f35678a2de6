"""Smith et al. 2018 report: decaying the lr vs increasing the batch at equal examples (NQM).
usage: report.py RESULTS_DIR   (RESULTS_DIR/lr_decay: the batchlab sweep of the lr-decay arm)

The exact SGD second-moment recursion of REFERENCES.md (Zhang et al. 2019),
    s_i(t+1) = (1 - lr_t h_i)^2 s_i(t) + lr_t^2 c_i / B_t,   E[L] = 1/2 sum h_i s_i,
is run here for any (lr_t, B_t) sequence. It is first run on the lr-decay arm and must reproduce
every point of batchlab's curves.csv to 1e-9 (relative); only then is it used for the arm
batchlab cannot express, the batch-size schedule (B x factor at the lr-decay milestones' example
counts, constant lr)."""
import configparser
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from _lib import md_table, plt, read_csv, replace_generated, results_arg, timing_line, write_csv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run(h, c, s0, phases):
    """phases: [(lr, batch, steps)]; returns (examples, steps, loss) after every step, step 0 included."""
    s = np.full_like(h, s0)
    ex, st, loss = [0], [0], [0.5 * np.sum(h * s)]
    for lr, b, n in phases:
        for _ in range(n):
            s = (1 - lr * h) ** 2 * s + lr * lr * c / b
            ex.append(ex[-1] + b)
            st.append(st[-1] + 1)
            loss.append(0.5 * np.sum(h * s))
    return np.array(ex), np.array(st), np.array(loss)


def main():
    res = results_arg()
    d = os.path.join(res, "lr_decay")
    cfg = configparser.ConfigParser(inline_comment_prefixes=("#",))
    cfg.read(os.path.join(d, "config.ini"))
    L, S, St = cfg["landscape"], cfg["schedule"], cfg["study"]
    i = np.arange(1, int(L["dim"]) + 1, dtype=float)
    h, c, s0 = i ** -float(L["curvature_power"]), i ** -float(L["noise_power"]), float(L["init_variance"])
    lr0, b0 = float(St["lr_grid"]), int(St["batch_sizes"])
    miles = [int(m) for m in S["milestones"].split(",")]
    factor, total = float(S["factor"]), int(St["max_steps"])
    bounds = [0] + miles + [total]

    # lr-decay arm, checked against batchlab
    decay = [(lr0 * factor ** k, b0, bounds[k + 1] - bounds[k]) for k in range(len(bounds) - 1)]
    ex_d, st_d, loss_d = run(h, c, s0, decay)
    curve = read_csv(os.path.join(d, "curves.csv"), ["step", "value"])
    err = max(abs(loss_d[int(r["step"])] / float(r["value"]) - 1) for r in curve)
    if err > 1e-9:
        sys.exit(f"recursion does not reproduce batchlab's lr-decay curve (max rel. error {err:.3g})")

    # batch-increase arm: same examples per phase, batch / factor instead of lr x factor
    inc = []
    for k in range(len(bounds) - 1):
        b = int(round(b0 / factor ** k))
        inc.append((lr0, b, (bounds[k + 1] - bounds[k]) * b0 // b))
    ex_i, st_i, loss_i = run(h, c, s0, inc)

    def at_examples(ex, loss, e):
        return loss[np.searchsorted(ex, e)]

    marks = [b * b0 for b in bounds[1:]]
    rows = [[f"{e:,}", at_examples(ex_d, loss_d, e), at_examples(ex_i, loss_i, e),
             at_examples(ex_i, loss_i, e) / at_examples(ex_d, loss_d, e)] for e in marks]
    arms = [["decay lr (batchlab)", " -> ".join(f"{lr:g}" for lr, _, _ in decay),
             " -> ".join(str(b) for _, b, _ in decay), int(st_d[-1]), f"{int(ex_d[-1]):,}", float(loss_d[-1])],
            ["increase batch (exact recursion)", " -> ".join(f"{lr:g}" for lr, _, _ in inc),
             " -> ".join(str(b) for _, b, _ in inc), int(st_i[-1]), f"{int(ex_i[-1]):,}", float(loss_i[-1])]]
    write_csv(os.path.join(HERE, "summary.csv"), ["arm", "lrs", "batch_sizes", "steps", "examples", "final_loss"], arms)
    ratio = loss_i[-1] / loss_d[-1]
    checks = [
        ("Increasing the batch reaches the same loss as decaying the lr at equal examples (within 10%)",
         f"final loss {loss_i[-1]:.4g} vs {loss_d[-1]:.4g} (ratio {ratio:.3f})", abs(ratio - 1) < 0.1),
        ("... in fewer optimizer steps", f"{int(st_i[-1])} vs {int(st_d[-1])} steps", st_i[-1] < st_d[-1]),
    ]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4))
    a1.semilogy(ex_d, loss_d, label="decay lr x%g" % factor)
    a1.semilogy(ex_i, loss_i, "--", label="increase batch x%g" % (1 / factor))
    a1.set_xlabel("examples")
    a2.semilogy(st_d, loss_d, label="decay lr")
    a2.semilogy(st_i, loss_i, "--", label="increase batch")
    a2.set_xlabel("steps")
    for a in (a1, a2):
        a.set_ylabel("expected loss (exact)")
        a.legend()
    a1.set_title(f"NQM d={L['dim']}, SGD, B0={b0}, lr0={lr0:g}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "figure.png"), dpi=120)

    md = [timing_line(res), "",
          f"The exact recursion reproduces batchlab's lr-decay curve ({len(curve)} points) to {err:.1e} (relative).",
          "", md_table(["arm", "lr per phase", "batch per phase", "steps", "examples", "final loss"], arms), "",
          "Loss at the end of each phase (equal examples):", "",
          md_table(["examples", "decay lr", "increase batch", "ratio"], rows), "",
          "Claims checked on these numbers:", "",
          md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks])]
    replace_generated(os.path.join(HERE, "README.md"), "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
