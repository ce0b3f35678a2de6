"""Report of papers/time_to_accuracy/run.sh: predicted (batchlab plan) vs measured (batchlab train)
training wall time to the target, per (ranks K, global batch B), and the ImageNet worked example.

  summary.csv  model, workers, batch_size, predicted_s, measured_s (medians over the repeats), then
               ratio, steps and step times, repeats, load averages
  figure.png   left: measured vs predicted time to target (each repeat, and the medians), the
               +-20% band; right: predicted / measured per (K, B) and repeat
  README.md    the generated section (tables, claim check, ImageNet)

Each repeat's prediction is the mean of the plans from the profiles measured just before and just
after its trainings (the same load from other jobs as the measurement); the measured time
is batchlab train's wall_s (training loop to the target, without evaluation and start-up), which
is what the planner predicts.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _lib  # noqa: E402
from matplotlib.ticker import FormatStrFormatter  # noqa: E402
from _lib import fmt, md_table, plt, read_csv, read_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GOAL = 0.20  # |predicted / measured - 1| <= 20%


def load1(path):
    """The 1-minute load averages in a load.txt (one line per moment recorded)."""
    with open(path) as f:
        return [float(line.split()[0]) for line in f if line.strip()]


MODELS = {"mlp": "MLP 784-256-256-10", "simple_cnn": "Simple CNN"}  # the arms of run.sh, in its order


def models(out):
    """The arms present in a results folder (run.sh writes OUT/NAME/r1, r2, ...)."""
    return [m for m in MODELS if os.path.isdir(os.path.join(out, m, "r1"))]


def repeats(out, model):
    d = os.path.join(out, model)
    return sorted((os.path.join(d, r) for r in os.listdir(d) if r.startswith("r")), key=lambda p: int(p[len(d) + 2:]))


def plan_rows(rdir, when):
    rows = read_csv(os.path.join(rdir, f"plan_{when}", "plan.csv"),
                    ["workers", "batch_size", "time_to_target_s", "steps_to_target", "step_time_s", "extrapolated"])
    return {(int(r["workers"]), int(r["batch_size"])): r for r in rows}


def points(out):
    """{(model, K, B): [per-repeat dict]} of predictions (the mean of the plans from the profiles
    measured before and after the repeat's trainings) and measurements."""
    pts = {}
    for model, rdir in ((m, r) for m in models(out) for r in repeats(out, m)):
        before, after = plan_rows(rdir, "before"), plan_rows(rdir, "after")
        for (k, b), row in before.items():
            t = os.path.join(rdir, f"train_K{k}_B{b}")
            s = read_json(os.path.join(t, "summary.json"))
            steps = s["steps_to_target"] if s["status"] == "reached" else None
            pred = [float(row["time_to_target_s"]), float(after[(k, b)]["time_to_target_s"])]
            pts.setdefault((model, k, b), []).append({
                "predicted_s": statistics.mean(pred), "predicted_before_s": pred[0], "predicted_after_s": pred[1],
                "measured_s": s["wall_s"] if steps else None,
                "predicted_steps": float(row["steps_to_target"]), "measured_steps": steps,
                "predicted_step_s": statistics.mean(pred) / float(row["steps_to_target"]),
                "measured_step_s": s["wall_s"] / s["steps"],
                "extrapolated": row["extrapolated"], "load": load1(os.path.join(t, "load.txt"))})
    return pts


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summary_rows(pts):
    rows = []
    for (model, k, b), reps in sorted(pts.items(), key=lambda kv: (list(MODELS).index(kv[0][0]), kv[0][1:])):
        pred, meas = median([r["predicted_s"] for r in reps]), median([r["measured_s"] for r in reps])
        loads = [x for r in reps for x in r["load"]]
        rows.append({"model": model, "workers": k, "batch_size": b, "predicted_s": pred, "measured_s": meas,
                     "ratio": pred / meas if meas else None,
                     "repeat_ratios": [r["predicted_s"] / r["measured_s"] if r["measured_s"] else None for r in reps],
                     "before_after_ratios": [(r["predicted_before_s"] / r["measured_s"], r["predicted_after_s"] / r["measured_s"])
                                             for r in reps if r["measured_s"]],
                     "predicted_steps": median([r["predicted_steps"] for r in reps]),
                     "measured_steps": median([r["measured_steps"] for r in reps]),
                     "predicted_step_s": median([r["predicted_step_s"] for r in reps]),
                     "measured_step_s": median([r["measured_step_s"] for r in reps]),
                     "repeats": len(reps), "load_min": min(loads), "load_max": max(loads),
                     "extrapolated": reps[0]["extrapolated"]})
    return rows


def figure(pts, rows, path):
    """One row per model: measured vs predicted (left), predicted / measured per (K, B) (right)."""
    arms = [m for m in MODELS if any(r["model"] == m for r in rows)]
    fig, axes = plt.subplots(len(arms), 2, figsize=(11, 4.6 * len(arms)), squeeze=False)
    for (a, c), model in zip(axes, arms):
        figure_row(a, c, {kb[1:]: reps for kb, reps in pts.items() if kb[0] == model},
                   [r for r in rows if r["model"] == model], MODELS[model])
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def figure_row(a, c, pts, rows, title):
    colors = {b: f"C{i}" for i, b in enumerate(sorted({b for _, b in pts}))}
    marks = {1: "o", 2: "s"}
    lo = min(min(r["predicted_s"], r["measured_s"] or r["predicted_s"]) for reps in pts.values() for r in reps)
    hi = max(max(r["predicted_s"], r["measured_s"] or 0) for reps in pts.values() for r in reps)
    xs = [lo / 1.5, hi * 1.5]
    a.fill_between(xs, [x * (1 - GOAL) for x in xs], [x * (1 + GOAL) for x in xs], color="0.9", label="±20%")
    a.plot(xs, xs, "k-", lw=0.8)
    for (k, b), reps in sorted(pts.items()):
        for r in reps:
            if r["measured_s"]:
                a.plot(r["measured_s"], r["predicted_s"], marks[k], color=colors[b], mfc="none", ms=5)
    for r in rows:
        if r["measured_s"]:
            a.plot(r["measured_s"], r["predicted_s"], marks[r["workers"]], color=colors[r["batch_size"]], ms=8,
                   label=f"K = {r['workers']}, B = {r['batch_size']}")
    a.set_xscale("log")
    a.set_yscale("log")
    for axis in (a.xaxis, a.yaxis):  # plain seconds, not powers of ten
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(FormatStrFormatter("%g"))
    a.tick_params(which="minor", labelsize=7)
    a.set_xlabel("measured training time to 0.85 (s, batchlab train wall_s)")
    a.set_ylabel("predicted (s, batchlab plan)")
    a.legend(fontsize=7, ncol=2)
    a.set_title(f"Fashion-MNIST {title}: predicted vs measured", fontsize=10)
    labels = []
    for i, r in enumerate(rows):
        labels.append(f"K{r['workers']}\nB{r['batch_size']}")
        for x in r["repeat_ratios"]:
            if x is not None:
                c.plot(i, x, marks[r["workers"]], color=colors[r["batch_size"]], mfc="none", ms=5)
        if r["ratio"]:
            c.plot(i, r["ratio"], marks[r["workers"]], color=colors[r["batch_size"]], ms=8)
    c.axhspan(1 - GOAL, 1 + GOAL, color="0.9")
    c.axhline(1, color="k", lw=0.8)
    c.set_xticks(range(len(rows)))
    c.set_xticklabels(labels, fontsize=7)
    c.set_ylabel("predicted / measured")
    c.set_title(f"{title}: each repeat (hollow), medians (filled)", fontsize=10)


def profile_lines(out, model):
    """The model's last repeat's fitted profile, in words."""
    p = read_json(os.path.join(repeats(out, model)[-1], "profile_after.json"))
    one, both = p["compute"][0], p["compute"][-1]
    ar, ov = p["allreduce"][0], p["overlap"]
    return [f"{MODELS[model]}, last profile (`bench-step`, 2 ranks, load {p['load_average']['before']} -> "
            f"{p['load_average']['after']}): update T_c(b) = {one['alpha_s'] * 1e3:.3g} ms + "
            f"{one['beta_s_per_example'] * 1e6:.3g} us x b on one rank (fit rms {one['fit_rms_rel_error']:.0%}), "
            f"{both['alpha_s'] * 1e3:.3g} ms + {both['beta_s_per_example'] * 1e6:.3g} us x b per rank of 2 in "
            f"synchronous updates (rms {both['fit_rms_rel_error']:.0%}); all-reduce {ar['alpha_s'] * 1e6:.3g} us + "
            f"n / {1e-9 / ar['beta_s_per_byte'] if ar['beta_s_per_byte'] else float('inf'):.3g} GB/s "
            f"(rms {ar['fit_rms_rel_error']:.0%}); the gradient's all-reduce {ov['gradient_allreduce_s'] * 1e3:.3g} ms "
            f"({p['gradient']['bytes'] / 1e6:.3g} MB in {p['gradient']['buckets']} bucket), of which "
            f"{ov['fraction']:.2f} +- {ov['fit_error']:.2f} measured as hidden behind backward (with one bucket "
            "nothing can be hidden: docs/profile_schema.md, How bench-step measures, says why a measurement can come "
            "out above 0)."]


def imagenet_section(out):
    published = {"goyal2017_p100": ("Goyal et al. 2017", "256 P100", 256, 8192, 14076, "0.255 s", 3600, "1 hour"),
                 "you2018_knl": ("You et al. 2018", "2048 KNL", 2048, 32768, 3519, "— (20 min / 3,519)", 1200, "20 min"),
                 "ying2018_tpuv3": ("Ying et al. 2018", "1024 TPU v3", 1024, 32768, 3519, "0.037 s", 132, "2.2 min")}
    rows, others = [], []
    for name, (paper, hw, k, b, steps, step, wall, wall_text) in published.items():
        plan = read_csv(os.path.join(out, "imagenet", name, "plan.csv"),
                        ["workers", "time_to_target_s", "device_hours", "extrapolated"])
        at = next(r for r in plan if int(r["workers"]) == k)
        t = float(at["time_to_target_s"])
        rows.append([paper, hw, f"{b}", f"{steps}", step, wall_text, f"{t / 60:.3g} min", f"{t / wall:.3f}",
                     f"{float(at['device_hours']):.4g}"])
        for r in plan:
            if int(r["workers"]) != k:
                others.append(f"{paper} at K = {r['workers']}: {float(r['time_to_target_s']) / 60:.3g} min "
                              f"(extrapolated: {r['extrapolated']})")
    fit = read_json(os.path.join(out, "imagenet", "goyal2017_p100", "plan.json"))["fits"]["table"]
    return ["### ImageNet worked example (published step counts, hand-written profiles)", "",
            "`batchlab plan papers/time_to_accuracy/imagenet/published_steps.csv --profile imagenet/PAPER.json "
            "--workers K/2,K,2K --batch-sizes B`", "",
            md_table(["paper", "devices K", "B", "steps (90 epochs)", "step time", "published wall", "plan",
                      "plan / published", "device-hours"], rows), "",
            "At half and twice the published K (same B): " + "; ".join(others) + ".", "",
            f"The fit of the two published points is {'bounded' if fit['fit_bounded'] else 'unbounded'} "
            f"(B_crit = {fmt(fit['b_crit'])}, S_min = {fmt(fit['s_min'])}): both runs trained a fixed 90 epochs, "
            "so B x S is the same at both batch sizes by construction and the fit sees perfect scaling."]


def claim_checks(rows, who):
    """The goal and its two factors, over `rows` (one model's points, or all)."""
    within = [r for r in rows if r["ratio"] and abs(r["ratio"] - 1) <= GOAL]
    step_within = [r for r in rows if abs(r["predicted_step_s"] / r["measured_step_s"] - 1) <= GOAL]
    same_steps = [r for r in rows if r["measured_steps"] == r["predicted_steps"]]
    reps = sorted({r["repeats"] for r in rows})
    return [
        (f"{who}: |predicted / measured - 1| <= 20% at every (K, B) (medians over "
         f"{'/'.join(map(str, reps))} repeat(s))",
         f"{len(within)} of {len(rows)} points; ratios " + ", ".join(fmt(r["ratio"]) for r in rows),
         len(within) == len(rows)),
        (f"{who}: the time per update alone (the step-time model, S(B) aside) within 20%",
         f"{len(step_within)} of {len(rows)} points", len(step_within) == len(rows)),
        (f"{who}: this run's steps to 0.85 equal the study's (S(B), the other factor)",
         f"{len(same_steps)} of {len(rows)} points", len(same_steps) == len(rows)),
    ]


def main():
    out = _lib.results_arg()
    pts = points(out)
    rows = summary_rows(pts)
    dest = _lib.report_dir(HERE, out)
    _lib.write_csv(os.path.join(dest, "summary.csv"),
                   ["model", "workers", "batch_size", "predicted_s", "measured_s", "ratio", "predicted_steps",
                    "measured_steps", "predicted_step_s", "measured_step_s", "repeats", "load_min", "load_max"],
                   [[r["model"], r["workers"], r["batch_size"], r["predicted_s"], r["measured_s"], r["ratio"],
                     r["predicted_steps"], r["measured_steps"], r["predicted_step_s"], r["measured_step_s"],
                     r["repeats"], r["load_min"], r["load_max"]] for r in rows])
    figure(pts, rows, os.path.join(dest, "figure.png"))
    table = md_table(
        ["model", "K", "B", "predicted s", "measured s", "predicted / measured", "each repeat (profile before, after)",
         "steps: study / this run",
         "s per update: predicted / measured", "load (1 min) during the runs"],
        [[MODELS[r["model"]], f"{r['workers']}", f"{r['batch_size']}", fmt(r["predicted_s"]), fmt(r["measured_s"]),
          fmt(r["ratio"]),
          ", ".join(f"{fmt(x)} ({fmt(a)}, {fmt(c)})" for x, (a, c) in zip(r["repeat_ratios"], r["before_after_ratios"])),
          f"{fmt(r['predicted_steps'])} / {fmt(r['measured_steps'])}",
          f"{r['predicted_step_s'] * 1e3:.3g} / {r['measured_step_s'] * 1e3:.3g} ms",
          f"{r['load_min']:.1f}-{r['load_max']:.1f}"] for r in rows])
    checks = []
    arms = [m for m in MODELS if any(r["model"] == m for r in rows)]
    for model in arms + ([None] if len(arms) > 1 else []):
        checks += claim_checks([r for r in rows if model in (None, r["model"])], MODELS.get(model, "both models"))
    md = [_lib.timing_line(out), "",
          "Predicted: `batchlab plan` (S(B) of the committed study x the step time of the profiles measured by "
          "`batchlab bench-step` just before and just after the repeat's trainings, mean of the two). "
          "Measured: `batchlab train` with the study's "
          "best trial's settings, its `wall_s` (training loop to the target; evaluation and start-up excluded). "
          "The machine has 2 cores shared with other jobs; the load is in the last column.", "",
          table, ""] + _lib.claims_section(checks) + [""]
    for model in models(out):
        md += [*profile_lines(out, model), ""]
    md += imagenet_section(out)
    _lib.publish(HERE, out, md)


if __name__ == "__main__":
    main()
