"""Shared helpers of the plots/ scripts: read results files by column name, save PNG + PDF."""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def results_dir():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} RESULTS_DIR")
    d = sys.argv[1]
    if not os.path.isdir(d):
        sys.exit(f"{sys.argv[0]}: '{d}' is not a directory")
    return d


def read_csv(path, required):
    """Rows of a CSV as dicts; fails with the missing column names, never reads by position.
    A several-target study's table (a `target` column) is read at its first target, the one whose
    fits summary.json keeps under "optimizers", unless the caller requires the `target` column."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}: missing columns {missing}")
        return first_target(list(reader), required)


def first_target(rows, required=()):
    """The rows of the first target (rows are written target-major), all rows when the table has no
    `target` column or the caller asked for it."""
    if not rows or "target" not in rows[0] or "target" in required:
        return rows
    return [r for r in rows if r["target"] == rows[0]["target"]]


def read_summary(d):
    p = os.path.join(d, "summary.json")
    if not os.path.exists(p):
        return {}
    with open(p) as f:
        return json.load(f)


def save(fig, d, stem):
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(d, f"{stem}.{ext}"), dpi=150, bbox_inches="tight")
    plt.close(fig)


def by_optimizer(rows):
    out = {}
    for r in rows:
        out.setdefault(r["optimizer"], []).append(r)
    return out
