"""Training curves of the best trial per (optimizer, batch size) (curves.csv, trials.csv,
steps_vs_batch.csv): metric vs step, one panel per optimizer, one line per batch size; the
horizontal line is the target. Writes curves.png and .pdf into the results directory.
"""
import os

import numpy as np

from _common import by_optimizer, plt, read_csv, read_summary, results_dir, save


def main():
    d = results_dir()
    best = read_csv(os.path.join(d, "steps_vs_batch.csv"),
                    ["optimizer", "batch_size", "lr", "momentum", "ema_decay", "status"])
    trials = read_csv(os.path.join(d, "trials.csv"),
                      ["trial_id", "optimizer", "batch_size", "lr", "momentum", "ema_decay", "seed"])
    curves = read_csv(os.path.join(d, "curves.csv"), ["trial_id", "step", "metric", "value"])
    summary = read_summary(d)
    # The first seed's trial of each best grid point (same strings as written by batchlab).
    key = lambda r: (r["optimizer"], r["batch_size"], r["lr"], r["momentum"], r["ema_decay"])  # noqa: E731
    wanted = {key(r) for r in best if r["status"] == "reached"}
    chosen = {}
    for t in trials:
        k = key(t)
        if k in wanted and k not in chosen:
            chosen[k] = t["trial_id"]
    points = {}
    for c in curves:
        points.setdefault(c["trial_id"], []).append((float(c["step"]), float(c["value"])))
    opts = by_optimizer(best)
    fig, axes = plt.subplots(1, max(1, len(opts)), figsize=(4.0 * max(1, len(opts)), 3.6), squeeze=False)
    for ax, (opt, rs) in zip(axes[0], opts.items()):
        rs = [r for r in rs if key(r) in chosen]
        cmap = plt.get_cmap("viridis")
        for j, r in enumerate(rs):
            pts = sorted(points.get(chosen[key(r)], []))
            if not pts:
                continue
            steps, vals = np.array(pts).T
            ax.plot(np.maximum(steps, 1), vals, color=cmap(j / max(1, len(rs) - 1)), lw=1,
                    label=f"B={r['batch_size']}")
        if "target" in summary:
            ax.axhline(summary["target"], color="k", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(opt, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(curves[0]["metric"] if curves else "metric")
        if len(rs) <= 12:
            ax.legend(fontsize=6)
    save(fig, d, "curves")


if __name__ == "__main__":
    main()
