"""Time and device-hours to target vs workers and batch size (`batchlab plan`: plan.csv, plan.json).

Left: time to target vs workers K, log-log, one line per global batch B (per optimizer: line
style). Right: device-hours vs time to target, every (K, B), with each optimizer's Pareto front.
Both: hollow markers where the row is extrapolated (S(B) beyond the measured batch sizes, or the
step-time profile outside what was measured: plan.csv column `extrapolated`); a star at the
fastest recommendation, a diamond at the cheapest within the slowdown (plan.json).
Writes plan.png and .pdf into the plan directory.
"""
import json
import os

from _common import plt, read_csv, results_dir, save

COLUMNS = ["optimizer", "workers", "batch_size", "time_to_target_s", "device_hours", "pareto", "extrapolated"]
STYLES = ["-", "--", ":", "-."]


def marker_face(row, color):
    return "none" if row["extrapolated"] != "none" else color


def is_rec(row, rec):
    return int(row["workers"]) == rec["workers"] and int(row["batch_size"]) == rec["batch_size"]


def main():
    d = results_dir()
    rows = read_csv(os.path.join(d, "plan.csv"), COLUMNS)
    with open(os.path.join(d, "plan.json")) as f:
        meta = json.load(f)
    batches = sorted({int(r["batch_size"]) for r in rows})
    cmap = plt.get_cmap("viridis")
    color = {b: cmap(i / max(1, len(batches) - 1)) for i, b in enumerate(batches)}
    opts = list(dict.fromkeys(r["optimizer"] for r in rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for oi, opt in enumerate(opts):
        mine = [r for r in rows if r["optimizer"] == opt]
        rec = meta.get("recommendations", {}).get(opt, {})
        for b in batches:
            line = sorted((r for r in mine if int(r["batch_size"]) == b), key=lambda r: int(r["workers"]))
            if not line:
                continue
            k = [int(r["workers"]) for r in line]
            t = [float(r["time_to_target_s"]) for r in line]
            label = f"B = {b}" + (f" ({opt})" if len(opts) > 1 else "")
            left.plot(k, t, STYLES[oi % 4], color=color[b], lw=1, label=label)
            for r, x, y in zip(line, k, t):
                left.plot([x], [y], "o", color=color[b], mfc=marker_face(r, color[b]), ms=5)
        for r in mine:
            right.plot([float(r["time_to_target_s"])], [float(r["device_hours"])], "o",
                       color=color[int(r["batch_size"])], mfc=marker_face(r, color[int(r["batch_size"])]), ms=5)
        front = sorted((r for r in mine if r["pareto"] == "true"), key=lambda r: float(r["time_to_target_s"]))
        right.plot([float(r["time_to_target_s"]) for r in front], [float(r["device_hours"]) for r in front],
                   STYLES[oi % 4], color="k", lw=1, label=f"Pareto front{f' ({opt})' if len(opts) > 1 else ''}")
        for key, mark, name in (("fastest", "*", "fastest"), ("cheapest_within_slowdown", "D", "cheapest")):
            if key not in rec:
                continue
            r = next(r for r in mine if is_rec(r, rec[key]))
            x, y = float(r["time_to_target_s"]), float(r["device_hours"])
            text = f"{name}: K = {r['workers']}, B = {r['batch_size']}"
            right.plot([x], [y], mark, color="k", ms=12, mfc="none", label=text)
            left.plot([int(r["workers"])], [x], mark, color="k", ms=12, mfc="none")
    left.plot([], [], "o", color="grey", mfc="none", label="extrapolated")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", lw=0.3)
    workers = sorted({int(r["workers"]) for r in rows})
    left.set_xticks(workers)
    left.set_xticklabels([str(k) for k in workers])
    left.minorticks_off()
    left.set_xlabel("workers K")
    left.set_ylabel("time to target (s)")
    left.legend(fontsize=7, ncol=2)
    right.set_xlabel("time to target (s)")
    right.set_ylabel("device-hours")
    right.legend(fontsize=7)
    study, profile = meta.get("study", {}), meta.get("profile", {})
    fig.suptitle(f"{study.get('landscape', '')}, sync policy {study.get('sync', '')}: profile of {profile.get('model', '')} "
                 f"({profile.get('backend', '')}, {profile.get('device', '')})", fontsize=10)
    save(fig, d, "plan")


if __name__ == "__main__":
    main()
