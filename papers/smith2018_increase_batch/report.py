"""Smith et al. 2018 report: decaying the lr vs increasing the batch at equal examples.
usage: report.py RESULTS_DIR

RESULTS_DIR holds six batchlab sweeps (run.sh): lr_decay_<steps> and batch_increase_<steps>, each
run to the end of one phase with the exact expected loss recorded (curves.csv, log-spaced steps)
and the final loss in trials.csv; and RESULTS_DIR/real (run_real.sh): `batchlab train` runs
<arm>_s<seed>/{metrics.csv,summary.json} of the Fashion-MNIST MLP on 2 ranks. Every number comes
from batchlab's outputs; nothing is recomputed here but means over seeds and differences."""
import configparser
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _lib import (md_table, plt, publish, read_csv, read_json, report_dir, results_arg, timing_line,  # noqa: E402
                  write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_ARMS = [("decay_lr", "decay lr x0.2 (B = 128)"), ("increase_batch", "increase B x5 (lr constant)"),
             ("hybrid", "hybrid: B x5 capped at 640, then lr x0.2"), ("constant", "control: constant lr and B")]
REAL_TOL = 0.005  # same test accuracy: within 0.5 percentage points (mean over seeds)


def real_runs(real):
    """{arm: [run]} with run = {seed, steps, examples, final, rows, phases, phase_ends}."""
    out = {}
    for arm, _ in REAL_ARMS:
        for d in sorted(glob.glob(os.path.join(real, arm + "_s*"))):
            j = read_json(os.path.join(d, "summary.json"))
            rows = read_csv(os.path.join(d, "metrics.csv"), ["step", "examples", "lr", "eval_accuracy"])
            out.setdefault(arm, []).append({
                "seed": int(d.rsplit("_s", 1)[1]), "steps": int(j["steps"]), "examples": int(j["examples"]),
                "final": float(j["final_accuracy"]), "rows": rows, "config": j["config"], "wall_s": float(j["wall_s"]),
                "phases": j.get("batch_phases", [{"first_step": 0, "examples_before": 0, "batch": j["config"]["batch-size"]}])})
    return out


def at_examples(run, examples):
    """(step, lr, test accuracy) of the evaluation after exactly `examples` examples, or None."""
    for r in run["rows"]:
        if int(r["examples"]) == examples:
            return int(r["step"]), float(r["lr"]), float(r["eval_accuracy"])
    return None


def mean(xs):
    return sum(xs) / len(xs)


def real_section(real, axes, out):
    """Markdown lines and claim checks of the real arm; draws test accuracy vs examples / steps and
    writes out/real_summary.csv (out: report_dir)."""
    head = ["", "### Real training (Fashion-MNIST MLP, 2 ranks, `batchlab train`)", ""]
    if not os.path.exists(os.path.join(real, "timing.json")):
        return head + ["Not run (no results in " + real + "; run run_real.sh)."], []
    runs = real_runs(real)
    if set(runs) != {a for a, _ in REAL_ARMS} or len({len(v) for v in runs.values()}) != 1:
        sys.exit(f"{real}: expected every arm of {[a for a, _ in REAL_ARMS]} with the same seeds, found "
                 + ", ".join(f"{a}: {len(v)}" for a, v in runs.items()))
    total = runs["decay_lr"][0]["examples"]
    ends = [total // 3, 2 * total // 3, total]  # phase ends: equal thirds of the examples
    seeds = sorted(r["seed"] for r in runs["decay_lr"])
    table, csv_rows, missing = [], [], []
    for arm, label in REAL_ARMS:
        rs = runs[arm]
        p = rs[0]["phases"]
        batches = " -> ".join(str(x["batch"]) for i, x in enumerate(p) if i == 0 or x["batch"] != p[i - 1]["batch"])
        cells, lrs = [], []
        for e in ends:
            got = [at_examples(r, e) for r in rs]
            if any(g is None for g in got):
                missing.append(f"{arm} at {e:,}")
                cells.append("—")
                continue
            cells.append(f"{mean([g[2] for g in got]):.4f} ({got[0][0]})")
            lrs.append(got[0][1])
        table.append([label, batches, " -> ".join(f"{v:g}" for v in lrs), rs[0]["steps"], f"{rs[0]['examples']:,}"]
                     + cells + [" / ".join(f"{r['final']:.4f}" for r in rs), f"{mean([r['wall_s'] for r in rs]):.1f}"])
        for r in rs:
            csv_rows.append([arm, r["seed"], batches, r["steps"], r["examples"]]
                            + [(at_examples(r, e) or (None, None, None))[2] for e in ends])
    write_csv(os.path.join(out, "real_summary.csv"),
              ["arm", "seed", "batch_sizes", "updates", "examples"] + [f"test_acc_at_{e}" for e in ends], csv_rows)

    fin = {arm: mean([r["final"] for r in runs[arm]]) for arm, _ in REAL_ARMS}
    upd = {arm: runs[arm][0]["steps"] for arm, _ in REAL_ARMS}
    same_ex = all(r["examples"] == total for rs in runs.values() for r in rs) and not missing
    d_inc, d_hyb = fin["increase_batch"] - fin["decay_lr"], fin["hybrid"] - fin["decay_lr"]
    gain = fin["decay_lr"] - fin["constant"]
    checks = [
        ("Every arm processes the same examples and is evaluated at the same example counts",
         f"{total:,} examples; phase ends " + ", ".join(f"{e:,}" for e in ends)
         + (f" (missing: {', '.join(missing)})" if missing else ""), same_ex),
        (f"Increasing the batch reaches the test accuracy of decaying the lr (within {REAL_TOL * 100:g} points, mean of {len(seeds)} seeds)",
         f"{fin['increase_batch']:.4f} vs {fin['decay_lr']:.4f} ({d_inc * 100:+.2f} points)", abs(d_inc) <= REAL_TOL),
        ("... in fewer parameter updates", f"{upd['increase_batch']} vs {upd['decay_lr']} ({upd['decay_lr'] / upd['increase_batch']:.2f}x fewer)",
         upd["increase_batch"] < upd["decay_lr"]),
        (f"The hybrid (batch capped, then lr decay) too (within {REAL_TOL * 100:g} points), in fewer updates",
         f"{fin['hybrid']:.4f} ({d_hyb * 100:+.2f} points), {upd['hybrid']} updates", abs(d_hyb) <= REAL_TOL and upd["hybrid"] < upd["decay_lr"]),
        (f"The comparison is not vacuous: decaying the lr beats the constant-lr control by more than {REAL_TOL * 100:g} points",
         f"{fin['decay_lr']:.4f} vs {fin['constant']:.4f} ({gain * 100:+.2f} points)", gain > REAL_TOL),
    ]

    a1, a2 = axes
    for (arm, label), style in zip(REAL_ARMS, ("-", "--", "-.", ":")):
        r = runs[arm][0]
        ex = [int(x["examples"]) for x in r["rows"]]
        st = [int(x["step"]) for x in r["rows"]]
        acc = [float(x["eval_accuracy"]) for x in r["rows"]]
        a1.plot(ex, acc, style, label=label)
        a2.plot(st, acc, style, label=label)
    for a, xl in ((a1, "examples"), (a2, "steps (parameter updates)")):
        a.set_xlabel(xl)
        a.set_ylabel("test accuracy")
        lo = min(float(x["eval_accuracy"]) for rs in runs.values() for x in rs[0]["rows"][len(rs[0]["rows"]) // 4:])
        a.set_ylim(lo - 0.005, None)
        for e in ends[:-1]:
            if a is a1:
                a.axvline(e, color="0.8", lw=0.8)
        a.legend(fontsize=7)
    a1.set_title(f"Fashion-MNIST MLP, 2 ranks, momentum 0.9, seed {runs['decay_lr'][0]['seed']}", fontsize=9)

    t = read_json(os.path.join(real, "timing.json"))
    cfg = runs["decay_lr"][0]["config"]
    md = head + [
        f"`run_real.sh`: MLP 784-256-256-10, lr {cfg['lr']:g} at B = 128, momentum {cfg['momentum']:g}, "
        f"{total:,} examples in three phases of {ends[0]:,}, evaluated on the 10,000 test images every "
        f"{cfg['eval-every']} updates, seeds {', '.join(map(str, seeds))}. It took **{t['wall_s']:.0f} s** here "
        f"(1-min load average {t['load_avg_1min']:.1f} at the end).", "",
        "Test accuracy (mean over seeds) at the end of each phase, with the update count there:", "",
        md_table(["arm", "batch per phase", "lr per phase", "updates", "examples"]
                 + [f"acc @ {e:,} (update)" for e in ends] + ["final acc per seed", "train loop s"], table), "",
        "(train loop s: mean over seeds of summary.json wall_s, the training loop without evaluations, "
        "measured on this shared machine.)", "",
        "Claims checked on these numbers:", "",
        md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks])]
    return md, checks


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
    out = report_dir(HERE, res)  # the paper folder, or results_quick/ for --quick
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
    write_csv(os.path.join(out, "summary.csv"), ["arm", "lrs", "batch_sizes", "steps", "examples", "final_loss"], arms)
    ratio = final_i[2] / final_d[2]
    checks = [
        ("Both arms process the same examples by each phase end (batchlab's examples column)",
         ", ".join(r[0] for r in rows), ok_examples),
        ("Increasing the batch reaches the same loss as decaying the lr at equal examples (within 10%)",
         f"final loss {final_i[2]:.4g} vs {final_d[2]:.4g} (ratio {ratio:.3f})", abs(ratio - 1) < 0.1),
        ("... in fewer optimizer steps", f"{final_i[0]} vs {final_d[0]} steps", final_i[0] < final_d[0]),
    ]

    real = os.path.join(res, "real")
    has_real = os.path.exists(os.path.join(real, "timing.json"))
    fig, axs = plt.subplots(2 if has_real else 1, 2, figsize=(11, 8.8 if has_real else 4.4), squeeze=False)
    (a1, a2) = axs[0]
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
    real_md, _ = real_section(real, axs[1] if has_real else None, out)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=120)

    md = [timing_line(res), "",
          md_table(["arm", "lr per phase", "batch per phase", "steps", "examples", "final loss"], arms), "",
          "Loss at the end of each phase (equal examples; each a separate batchlab run to that step):", "",
          md_table(["examples", "decay lr: steps", "decay lr: loss", "increase batch: steps", "increase batch: loss", "ratio"], rows), "",
          "Claims checked on these numbers:", "",
          md_table(["claim", "measured", "confirmed"], [[a, m, "yes" if ok else "**no**"] for a, m, ok in checks])]
    md = md[:2] + ["### Simulated (analytic NQM, `batchlab sweep`)", ""] + md[2:] + real_md
    publish(HERE, res, md)


if __name__ == "__main__":
    main()
