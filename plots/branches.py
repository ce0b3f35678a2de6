"""Branched critical-batch test (Merrill et al. 2025; `batchlab branch`, `batchlab train --branch-from`
or `--warmup-every`), whichever of its files the results directory holds:
  branches.csv + branch.json     -> branches.png: the loss gap of each branch k x B against its
                                    batch, the tolerance epsilon, accepted / rejected, the estimate
                                    and (analytic NQM) the S(B) bend B_crit at the branch point;
  branch_over_training.csv       -> branch_over_training.png: the branched critical batch, B_simple
                                    and the analytic B_crit against the examples at the branch point;
  warmup.csv + warmup.json       -> warmup.png: the warm-up's batch against examples, each test's
                                    gap against epsilon.
PNG and PDF into the results directory.
"""
import json
import os

import numpy as np

from _common import plt, read_csv, results_dir, save


def load_json(d, name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)


def plot_branches(d):
    rows = read_csv(os.path.join(d, "branches.csv"), ["factor", "batch", "gap", "accepted", "loss_branch", "loss_reference"])
    info = load_json(d, "branch.json")
    eps = info["settings"]["epsilon"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.4))
    b = np.array([float(r["batch"]) for r in rows])
    gap = np.array([float(r["gap"]) if r["gap"] else np.nan for r in rows])
    ok = np.array([r["accepted"] == "true" for r in rows])
    ax0.plot(b, gap, "-", color="C0", lw=1)
    ax0.plot(b[ok], gap[ok], "o", color="C2", label="accepted")
    ax0.plot(b[~ok], gap[~ok], "x", color="C3", label="rejected")
    ax0.axhline(eps, color="k", ls="--", lw=1, label=f"epsilon = {eps:g} ({info['settings']['gap']} gap)")
    ax0.axvline(info["b_branch"], color="C2", ls=":", label=f"branched critical batch {'<= ' if info['below_first'] else ''}{info['b_branch']}")
    bend = info.get("analytic_bend")
    if bend:
        ax0.axvline(bend["b_crit"], color="C1", ls="-.", label=f"analytic S(B) bend B_crit = {bend['b_crit']:.3g}")
    ax0.set_xscale("log", base=2)
    ax0.set_xlabel("branch batch k B")
    ax0.set_ylabel("loss gap to the reference")
    ax0.set_title(f"branch at step {info['branch_step']} (batch {info['batch']}, {info['settings']['examples']} examples per branch)", fontsize=8)
    ax0.legend(fontsize=7)
    ax0.grid(True, which="both", alpha=0.3)
    lb = np.array([float(r["loss_branch"]) if r["loss_branch"] else np.nan for r in rows])
    ax1.plot(b, lb, "o-", color="C0", label="branch after N examples")
    ax1.axhline(info["loss_reference"], color="k", ls="--", lw=1, label=f"reference (batch {info['batch']})")
    if info.get("loss_at_branch") is not None:
        ax1.axhline(info["loss_at_branch"], color="0.6", ls=":", lw=1, label="at the branch point")
    if bend:
        ax1b = ax1.twinx()
        ax1b.plot(bend["batch_sizes"], bend["steps"], "s-", color="C1", ms=3, lw=1, label="analytic S(B) to the reference loss")
        ax1b.set_yscale("log")
        ax1b.set_ylabel("steps to the reference loss (analytic)", color="C1")
        ax1b.legend(fontsize=7, loc="lower left")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("batch")
    ax1.set_ylabel("loss")
    ax1.legend(fontsize=7, loc="upper right")
    ax1.grid(True, which="both", alpha=0.3)
    save(fig, d, "branches")


def plot_over_training(d):
    rows = read_csv(os.path.join(d, "branch_over_training.csv"), ["examples", "b_branch", "b_simple", "analytic_b_crit"])
    fig, ax = plt.subplots(figsize=(6, 4.4))
    x = np.array([float(r["examples"]) for r in rows])
    for col, style, label in (("b_branch", "o-", "branched critical batch"), ("b_simple", "s--", "B_simple (noise scale)"),
                              ("analytic_b_crit", "^-.", "analytic S(B) bend")):
        y = np.array([float(r[col]) if r[col] else np.nan for r in rows])
        if np.isfinite(y).any():
            ax.plot(x, y, style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("examples at the branch point")
    ax.set_ylabel("batch")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    save(fig, d, "branch_over_training")


def plot_warmup(d):
    rows = read_csv(os.path.join(d, "warmup.csv"), ["examples", "batch", "gap", "accepted"])
    info = load_json(d, "warmup.json")
    eps = info["test"]["epsilon"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.4))
    x = [0] + [float(r["examples"]) for r in rows] + [float(info["examples"])]
    batch = [float(rows[0]["batch"]) if rows else np.nan]
    for r in rows:
        batch.append(float(r["batch"]) * (2 if r["accepted"] == "true" else 1))
    batch.append(batch[-1])
    ax0.step(x, batch, where="post", color="C0", label="CBS warm-up")
    for key, color in (("fixed_small", "C1"), ("fixed_large", "C3")):
        if key in info:
            ax0.axhline(info[key]["batch"], color=color, ls="--", lw=1,
                        label=f"fixed {info[key]['batch']}: {info[key]['steps']} steps, loss {info[key]['final_loss']:.4g}")
    ax0.set_yscale("log", base=2)
    ax0.set_xlabel("examples")
    ax0.set_ylabel("batch")
    ax0.set_title(f"warm-up: {info['steps']} steps, final loss {info['final_loss']:.4g}", fontsize=8)
    ax0.legend(fontsize=7)
    ax0.grid(True, which="both", alpha=0.3)
    ex = np.array([float(r["examples"]) for r in rows])
    gap = np.array([float(r["gap"]) if r["gap"] else np.nan for r in rows])
    ok = np.array([r["accepted"] == "true" for r in rows])
    ax1.plot(ex[ok], gap[ok], "o", color="C2", label="doubled")
    ax1.plot(ex[~ok], gap[~ok], "x", color="C3", label="kept")
    ax1.axhline(eps, color="k", ls="--", lw=1, label=f"epsilon = {eps:g} ({info['test']['gap']} gap)")
    ax1.set_xlabel("examples at the test")
    ax1.set_ylabel("gap of the doubled branch")
    ax1.legend(fontsize=7)
    ax1.grid(True, which="both", alpha=0.3)
    save(fig, d, "warmup")


def main():
    d = results_dir()
    done = False
    if os.path.exists(os.path.join(d, "branches.csv")):
        plot_branches(d)
        done = True
    if os.path.exists(os.path.join(d, "branch_over_training.csv")):
        plot_over_training(d)
        done = True
    if os.path.exists(os.path.join(d, "warmup.csv")):
        plot_warmup(d)
        done = True
    if not done:
        raise SystemExit(f"{d}: no branches.csv, branch_over_training.csv or warmup.csv")


if __name__ == "__main__":
    main()
