"""Douillard et al. 2023 (DiLoCo) and 2025 (Streaming DiLoCo) report: steps and bytes to target.
usage: report.py RESULTS_DIR

RESULTS_DIR holds, per landscape L of the simulated part (nqm, mlp), one `batchlab sweep` per
policy arm in sim_L/ARM (trials.csv, config.ini), and per arm of each real setting one 2-rank
`batchlab train` run in real/ARM (Fashion-MNIST MLP, target test accuracy) and real_gpt/ARM (tiny
GPT on gcide bytes, target validation loss; no post_local arm) with metrics.csv and summary.json,
each setting's timing.json, plus run.sh's timing.json.

Steps to target: simulated, per inner lr the mean over seeds of trials.csv's steps_to_target, the
lr counting only if every seed reached the target; the best lr is the one with the fewest mean
steps, and its mean comm_bytes (payload bytes one worker sent up to the target, docs/diloco.md)
are the bytes to target. Real: summary.json's steps_to_target, and metrics.csv's comm_bytes at
that row. The claims compare each arm with `sync` (a gradient all-reduce every step) at the same
global batch."""
import configparser
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from _lib import (claims_section, cpu_phrase, md_table, plt, publish, read_csv, read_json,  # noqa: E402
                  report_dir, results_arg, timing_line, write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))
ARMS = ["sync", "local", "post_local", "diloco", "streaming4"]
LANDSCAPES = {"nqm": "NQM (d = 500)", "mlp": "teacher-student MLP"}
# The real settings: results folder -> (label in the claims, summary.csv arm, arms run, figure title).
REAL = {"real": ("real FMNIST", "real_fmnist", ARMS, "real FMNIST"),
        "real_gpt": ("real GPT", "real_gpt", ["sync", "local", "diloco", "streaming4"], "real GPT (gcide)")}
# The committed record is a full run (papers/_lib.py report_dir): a --quick run goes to results_quick/.
RECORD_IS_QUICK = False
MATCH = 1.25     # "matches sync": at most this many times sync's steps to the target
STREAM_MATCH = 1.25  # streaming's "small loss cost": at most this many times diloco's steps


def sim_policy(d):
    """(policy string with its outer settings, H or None, workers, batch, target) of a sweep folder."""
    c = configparser.ConfigParser(inline_comment_prefixes=("#",))
    c.read(os.path.join(d, "config.ini"))
    s = c["sync"]
    pol = s["policy"]
    if pol.startswith(("diloco", "streaming")):
        pol += f" ({s.get('outer', 'nesterov')} {s.get('outer_lr', '0.7')}/{s.get('outer_momentum', '0.9')}"
        if s.get("outer_bits", "32") != "32":
            pol += f", {s['outer_bits']}-bit {s.get('outer_rounding', 'nearest')}"
        if s.get("outer_overlap", "false") == "true":
            pol += f", overlap {s.get('outer_overlap_steps', '1')}"
        pol += ")"
    return pol, period(s["policy"]), int(s["workers"]), c["study"]["batch_sizes"], float(c["study"]["target"])


def period(policy):
    """H of local:H, post-local:H@t0, diloco:H, streaming-diloco:H:F; None for sync."""
    if policy == "sync":
        return None
    return int(policy.split(":")[1].split("@")[0])


def best_sim(d):
    """The best inner lr of a sweep: {lr, steps, bytes, seeds, on_edge, final} or None if no lr
    reached the target in every seed."""
    rows = read_csv(os.path.join(d, "trials.csv"), ["lr", "seed", "status", "steps_to_target", "comm_bytes"])
    by_lr = {}
    for r in rows:
        by_lr.setdefault(float(r["lr"]), []).append(r)
    grid = sorted(by_lr)
    best = None
    for lr in grid:
        rs = by_lr[lr]
        if any(r["status"] != "reached" for r in rs):
            continue
        steps = float(np.mean([float(r["steps_to_target"]) for r in rs]))
        if best is None or steps < best["steps"]:
            best = {"lr": lr, "steps": steps, "bytes": float(np.mean([float(r["comm_bytes"]) for r in rs])),
                    "seeds": len(rs), "on_edge": lr in (grid[0], grid[-1])}
    return best


def real_result(d):
    """{policy, steps, bytes, final (test accuracy, or validation loss for a language model), steps_run,
    quant_error (summary.json's diloco.quant_relative_error; None for sync, local, post-local)} of a
    2-rank train run, steps/bytes None if
    the target was not reached."""
    s = read_json(os.path.join(d, "summary.json"))
    cfg = s["config"]
    pol = cfg["sync"]
    if pol.startswith(("diloco", "streaming")):
        pol += f" ({cfg['outer']} {cfg['outer-lr']}/{cfg['outer-momentum']}"
        if int(cfg["outer-bits"]) != 32:
            pol += f", {cfg['outer-bits']}-bit {cfg['outer-rounding']}"
        if cfg.get("outer-overlap"):
            pol += f", overlap {cfg['outer-overlap-steps']}"
        pol += ")"
    by_loss = s.get("target_loss") is not None  # a language model's run: validation loss to a target
    out = {"policy": pol, "H": period(cfg["sync"]), "steps": None, "bytes": None,
           "final": s["final_eval_loss"] if by_loss else s["final_accuracy"], "by_loss": by_loss,
           "steps_run": s["steps"], "target": s["target_loss"] if by_loss else s["target"],
           "batch": cfg["batch-size"], "lr": cfg["lr"], "wall_s": s["wall_s"], "model": cfg.get("model", "mlp"),
           "quant_error": s.get("diloco", {}).get("quant_relative_error")}
    if s["status"] == "reached":
        rows = read_csv(os.path.join(d, "metrics.csv"), ["step", "comm_bytes"])
        at = [r for r in rows if int(r["step"]) == int(s["steps_to_target"])]
        out["steps"], out["bytes"] = float(s["steps_to_target"]), float(at[0]["comm_bytes"])
    return out


def ratio(a, b):
    return a / b if (a is not None and b is not None and b > 0) else None


def fx(x, spec=".2f"):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def claims(label, res, h):
    """The paper's claims on one arm set res {arm: {steps, bytes}} with DiLoCo's period h."""
    s = {a: (res[a]["steps"] if res.get(a) else None) for a in ARMS}
    b = {a: (res[a]["bytes"] if res.get(a) else None) for a in ARMS}
    r_dl = ratio(s["diloco"], s["sync"])
    red_dl = ratio(b["sync"], b["diloco"])
    r_loc = ratio(s["diloco"], s["local"])
    r_st = ratio(s["streaming4"], s["diloco"])
    red_st = ratio(b["sync"], b["streaming4"])
    red_st_dl = ratio(b["diloco"], b["streaming4"])
    return [
        (f"{label}: DiLoCo (H = {h}) matches synchronous training: reaches the target in at most "
         f"{MATCH}x sync's steps", f"diloco / sync steps = {fx(r_dl)}", r_dl is not None and r_dl <= MATCH),
        (f"{label}: DiLoCo communicates ~H x less: bytes to target at least H/2 = {h / 2:g} x fewer than sync's",
         f"{fx(red_dl, '.1f')} x fewer", red_dl is not None and red_dl >= h / 2),
        (f"{label}: the outer Nesterov step beats plain parameter averaging (local:{h}, = outer SGD lr 1): "
         "fewer steps to target", f"diloco / local steps = {fx(r_loc)}", r_loc is not None and r_loc < 1),
        (f"{label}: Streaming DiLoCo with 4-bit pseudo-gradients costs little: at most {STREAM_MATCH}x "
         "DiLoCo's steps", f"streaming / diloco steps = {fx(r_st)}", r_st is not None and r_st <= STREAM_MATCH),
        (f"{label}: and cuts the bytes further: at least 4x fewer than DiLoCo's (4 of 32 bits), "
         f"hundreds of times fewer than sync's (paper ~400x)",
         f"{fx(red_st_dl, '.1f')} x fewer than DiLoCo, {fx(red_st, '.0f')} x fewer than sync",
         red_st_dl is not None and red_st_dl >= 4 and red_st is not None and red_st >= 100),
    ]


def sim_section(res_dir, name, rows_out):
    d0 = os.path.join(res_dir, f"sim_{name}")
    res, pols, h = {}, {}, None
    for a in ARMS:
        pols[a], hh, workers, batch, target = sim_policy(os.path.join(d0, a))
        if a == "diloco":
            h = hh
        res[a] = best_sim(os.path.join(d0, a))
    lines = ["", f"### Simulated: {LANDSCAPES[name]}, K = {workers} workers, global batch {batch}, target {target:g}",
             ""]
    table, edge = [], []
    for a in ARMS:
        r = res[a]
        st = r["steps"] if r else None
        by = r["bytes"] if r else None
        rows_out.append([f"sim_{name}", pols[a], r["lr"] if r else None, st, by,
                         ratio(st, res["sync"]["steps"] if res["sync"] else None),
                         ratio(res["sync"]["bytes"] if res["sync"] else None, by)])
        table.append([pols[a], fx(r["lr"], ".3g") if r else "—", fx(st, ".0f"), fx(by, ".3g"),
                      fx(rows_out[-1][5]), fx(rows_out[-1][6], ".1f")])
        if r and r["on_edge"]:
            edge.append(pols[a])
    lines += [md_table(["policy", "best inner lr", "steps to target", "bytes to target (one worker)",
                        "steps / sync", "bytes: sync / this"], table), ""]
    lines.append(("Best lr on the edge of the lr grid (widen it): " + ", ".join(edge)) if edge else
                 "No best lr sits on the edge of the lr grid.")
    return lines, res, h


def real_section(res_dir, setting, rows_out):
    """The tables of one real setting (REAL) in res_dir/setting: (markdown lines, {arm: result} or None
    if it was not run, DiLoCo's H)."""
    d0 = os.path.join(res_dir, setting)
    label, csv_arm, arms, _ = REAL[setting]
    if not os.path.exists(os.path.join(d0, arms[-1], "summary.json")):
        return ["", f"### Real training ({label})", "", "Not run (no results in " + d0 + ")."], None, None
    res = {a: real_result(os.path.join(d0, a)) for a in arms}
    t = read_json(os.path.join(d0, "timing.json"))
    s0 = res["sync"]
    if s0["by_loss"]:
        head = (f"### Real training: tiny GPT `{s0['model']}` on gcide bytes, 2 MPI ranks, global batch "
                f"{s0['batch']} windows, inner AdamW lr {s0['lr']}, target validation loss {s0['target']} nats/byte")
        final = "final validation loss (steps)"
    else:
        head = (f"### Real training: Fashion-MNIST MLP, 2 MPI ranks, global batch {s0['batch']}, "
                f"inner AdamW lr {s0['lr']}, target test accuracy {s0['target']}")
        final = "final test accuracy (steps)"
    lines = ["", head, "", f"The {len(arms)} runs took {t['wall_s']:.0f} s here (one seed each).", ""]
    table = []
    for a in arms:
        r = res[a]
        rs, rb = ratio(r["steps"], s0["steps"]), ratio(s0["bytes"], r["bytes"])
        rows_out.append([csv_arm, r["policy"], r["lr"], r["steps"], r["bytes"], rs, rb])
        table.append([r["policy"], fx(r["steps"], ".0f"), fx(r["bytes"], ".3g"), fx(rs), fx(rb, ".1f"),
                      f"{r['final']:.4f} after {r['steps_run']}", fx(r["quant_error"])])
    lines.append(md_table(["policy", "steps to target", "bytes to target (rank 0)", "steps / sync",
                           "bytes: sync / this", final, "pseudo-gradient quantisation error"], table))
    lines += ["", "Quantisation error: sqrt(sum err^2 / sum Delta_m^2) over the run's pseudo-gradients (summary.json "
              "`diloco.quant_relative_error`, docs/diloco.md); 0 at 32 bits, — without an outer step."]
    return lines, res, res["diloco"]["H"]


def figure(out, panels):
    """One panel (title, {arm: result}) per setting: bytes against steps to the target."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.0))
    axes = np.atleast_1d(axes)
    for ax, (title, res) in zip(axes, panels):
        for i, a in enumerate(ARMS):
            r = res.get(a)
            if r and r["steps"] is not None and r["bytes"]:
                ax.scatter(r["steps"], r["bytes"], s=60, color=f"C{i}", label=a, zorder=3)
        ax.set_yscale("log")
        ax.set_xlabel("steps to target")
        ax.set_ylabel("bytes one worker sent to target")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=110)


def cpu_text(res):
    """' Its runs used X CPU-seconds ...' from run.sh's cpu_times.txt, or '' without one."""
    cpu = cpu_phrase(res, "run.sh", ": the sweeps and both ranks of each real run")
    return f" Its runs used {cpu}." if cpu else ""


def main():
    res = results_arg()
    out = report_dir(HERE, res, RECORD_IS_QUICK)
    rows, checks, md, sims = [], [], [timing_line(res) + cpu_text(res)], []
    for name in LANDSCAPES:
        lines, r, h = sim_section(res, name, rows)
        md += lines
        sims.append((name, r))
        checks += claims(f"sim {name}", r, h)
    panels = [(f"sim {n}", r) for n, r in sims]
    for setting, (label, _, _, title) in REAL.items():
        lines, real, h = real_section(res, setting, rows)
        md += lines
        if real:
            checks += claims(label, real, h)
            panels.append((title, real))
    write_csv(os.path.join(out, "summary.csv"),
              ["arm", "policy", "lr", "steps_to_target", "bytes_to_target", "steps_over_sync", "bytes_sync_over_this"],
              rows)
    figure(out, panels)
    n_yes = sum(1 for _, _, ok in checks if ok)
    md += ["", f"{n_yes} of {len(checks)} claim checks confirmed."] + [""] + claims_section(checks)
    publish(HERE, res, md, RECORD_IS_QUICK)


if __name__ == "__main__":
    main()
