#!/usr/bin/env python3
"""The README's default study (Zhang et al. 2019 noisy quadratic model) and its figure, from Python.

    PYTHONPATH=build/release/python python3 docs/examples/default_study.py [OUT_DIR] [--quick]

Runs experiments/configs/nqm_zhang2019.ini through batchlab.sweep (the same run as
`batchlab sweep`), prints the S(B) fit per optimizer, draws the figures `batchlab plot` draws
(steps_vs_batch.png, ...), and one of its own from the DataFrames: measured steps-to-target with
the fitted S(B) = S_min (1 + B_crit / B) over them. --quick (CI) uses batch sizes 2^2..2^12
and a 16-point lr grid.
"""
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import batchlab

args = [a for a in sys.argv[1:] if a != "--quick"]
out = Path(args[0] if args else "results/nqm_zhang2019_py")
config = Path(__file__).resolve().parents[2] / "experiments/configs/nqm_zhang2019.ini"
overrides = {"output.dir": str(out)}
if "--quick" in sys.argv:
    overrides.update({"study.batch_sizes": "pow2:2:12", "study.lr_grid": "log:1e-4:4:16"})

study = batchlab.sweep(config, plot=False, progress=True, **overrides)
fit = study.fit.set_index("optimizer")
print(fit[["b_crit", "s_min", "e_min", "fit_error"]])
print("batchlab plot figures:", *[p.name for p in study.plot()])

# The same data by hand: reached batch sizes and the fitted curve per optimizer.
svb = study.steps_vs_batch
fig, ax = plt.subplots(figsize=(6, 4))
for opt, rows in svb[svb["status"] == "reached"].groupby("optimizer"):
    line, = ax.loglog(rows["batch_size"], rows["steps_to_target"], "o", label=opt)
    b = np.geomspace(rows["batch_size"].min(), rows["batch_size"].max(), 100)
    ax.loglog(b, fit.loc[opt, "s_min"] * (1 + fit.loc[opt, "b_crit"] / b), "-", color=line.get_color())
ax.set_xlabel("batch size B")
ax.set_ylabel("steps to target")
ax.legend()
fig.savefig(out / "steps_vs_batch_from_python.png", dpi=120, bbox_inches="tight")
print("wrote", out / "steps_vs_batch_from_python.png")
