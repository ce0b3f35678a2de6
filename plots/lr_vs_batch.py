"""Best learning rate vs batch size, log-log, one line per optimizer (steps_vs_batch.csv).

Crosses mark a best lr on the edge of the lr grid (the optimum may lie outside it).
Writes lr_vs_batch.png and .pdf into the results directory.
"""
import os

import numpy as np

from _common import by_optimizer, plt, read_csv, read_summary, results_dir, save


def main():
    d = results_dir()
    rows = read_csv(os.path.join(d, "steps_vs_batch.csv"), ["optimizer", "batch_size", "lr", "status", "lr_on_edge"])
    summary = read_summary(d)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for i, (opt, rs) in enumerate(by_optimizer(rows).items()):
        reached = [r for r in rs if r["status"] == "reached"]
        if not reached:
            continue
        b = np.array([float(r["batch_size"]) for r in reached])
        lr = np.array([float(r["lr"]) for r in reached])
        ax.plot(b, lr, "o-", color=f"C{i}", label=opt, ms=4)
        edge = np.array([r["lr_on_edge"] == "true" for r in reached])
        if edge.any():
            ax.plot(b[edge], lr[edge], "x", color="k", ms=7)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("best learning rate")
    ax.set_title(f"{summary.get('study', '')}: best lr per batch size (x = on grid edge)", fontsize=8)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    save(fig, d, "lr_vs_batch")


if __name__ == "__main__":
    main()
