"""The figure of a `batchlab calibrate` output directory (calibration.json), three panels:

  1. the measured Hessian spectrum: the top-k eigenvalues (Lanczos) as spikes of one eigenvalue
     each, and the SLQ density of the rest (eigenvalue counts per log-spaced bin: weights x (n - k));
  2. gradient noise vs curvature: c_i = v_i' Sigma v_i against h_i for the top k, and the tail
     law c(theta) = a theta^beta the NQM uses beyond them;
  3. steps to target vs batch size: the calibrated NQM's prediction and, with --compare, the
     measured study, each with its fit S(B) = S_min (1 + B_crit / B).
Writes calibration.png and .pdf into the directory.
"""
import json
import os

import numpy as np

from _common import plt, results_dir, save


def spectrum_panel(ax, inp):
    top = np.array(inp["eigenvalues"], dtype=float)
    nodes = np.array(inp["slq"]["nodes"], dtype=float)
    weights = np.array(inp["slq"]["weights"], dtype=float)
    tail_dirs = inp["parameters"] - len(top)
    pos = nodes > 0
    if pos.any():
        lo = max(nodes[pos].min(), top.max() * 1e-8)
        edges = np.geomspace(lo, max(nodes.max(), top.max()) * 1.5, 40)
        counts, _ = np.histogram(nodes[pos], bins=edges, weights=weights[pos] * tail_dirs)
        ax.stairs(counts, edges, fill=True, alpha=0.4, color="C0", label="SLQ density beyond top k")
    ax.vlines(top, 0.5, 1.0, color="C3", lw=1.2, label=f"top {len(top)} (Lanczos)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Hessian eigenvalue")
    ax.set_ylabel("eigenvalues per bin")
    neg = weights[~pos].sum() * tail_dirs
    ax.set_title(f"spectrum ({inp['point']['kind']}; {neg:.3g} directions <= 0 not shown)", fontsize=8)
    ax.legend(fontsize=7)


def noise_panel(ax, inp, nqm):
    h = np.array(inp["eigenvalues"], dtype=float)
    c = np.array(inp["c"], dtype=float)
    ok = (h > 0) & (c > 0)
    ax.loglog(h[ok], c[ok], "o", color="C3", ms=4, label="top k: c_i = v_i' Sigma v_i")
    nodes = np.array(inp["slq"]["nodes"], dtype=float)
    pos = nodes[nodes > 0]
    if pos.size:
        th = np.geomspace(pos.min(), max(pos.max(), h.max()), 100)
        a, beta = nqm["tail_noise"]["a"], nqm["tail_noise"]["beta"]
        ax.loglog(th, a * th ** beta, "--", color="C0", lw=1,
                  label=f"tail law c = {a:.3g} h^{beta:.2f}")
    ax.set_xlabel("curvature h")
    ax.set_ylabel("per-example gradient variance c")
    ax.set_title(f"B_simple {fmt(inp['b_simple'])}, B_noise {fmt(inp['b_noise'])} (measured)", fontsize=8)
    ax.legend(fontsize=7)


def fmt(v):
    return "-" if v is None else f"{v:.3g}"


def steps_panel(ax, j):
    pred = j["predicted"]
    rows = [r for r in pred["steps_vs_batch"] if r["steps"] is not None and r["steps"] > 0]
    allb = []
    if rows:
        b = np.array([r["batch_size"] for r in rows], dtype=float)
        s = np.array([r["steps"] for r in rows], dtype=float)
        allb += list(b)
        ax.plot(b, s, "o-", color="C0", ms=4, label="predicted (calibrated NQM)")
    meas = j.get("measured")
    if meas:
        b = np.array([r["batch_size"] for r in meas["steps_vs_batch"]], dtype=float)
        s = np.array([r["steps"] for r in meas["steps_vs_batch"]], dtype=float)
        allb += list(b)
        ax.plot(b, s, "s", color="C1", ms=5, label="measured (real study)")
    if allb:
        bb = np.geomspace(min(allb), max(allb), 200)
        for block, color, name in ((pred, "C0", "pred"), (meas, "C1", "meas")):
            if block and block.get("b_crit") is not None:
                ax.plot(bb, block["s_min"] * (1 + block["b_crit"] / bb), "--", color=color, lw=1,
                        label=f"fit {name}: B_crit {block['b_crit']:.3g}, S_min {block['s_min']:.3g}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("steps to target")
    title = f"{pred['optimizer']}, the study's lr grid"
    if j.get("ratios") and j["ratios"].get("b_crit") is not None:
        title += f"; pred/meas B_crit {j['ratios']['b_crit']:.2f}, S_min {j['ratios']['s_min']:.2f}"
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)


def main():
    d = results_dir()
    with open(os.path.join(d, "calibration.json")) as f:
        j = json.load(f)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    spectrum_panel(axes[0], j["inputs"])
    noise_panel(axes[1], j["inputs"], j["nqm"])
    steps_panel(axes[2], j)
    fig.suptitle(f"batchlab calibrate: {j['inputs']['dataset']}/{j['inputs']['model']}, "
                 f"{j['inputs']['parameters']} parameters, H on {j['inputs']['hessian_examples']} examples, "
                 f"Sigma on {j['inputs']['noise_examples']}", fontsize=9)
    save(fig, d, "calibration")


if __name__ == "__main__":
    main()
