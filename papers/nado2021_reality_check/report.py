"""Nado et al. 2021 report from the shared large-batch sweep. usage: report.py RESULTS_DIR"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_shared"))
sys.path.insert(0, os.path.join(HERE, ".."))
from _lib import results_arg  # noqa: E402
from large_batch_report import ratio, report  # noqa: E402


def matches(r):
    """Tuned baseline within 25% of the layer-wise optimizer at every batch size both reach."""
    v = [x for x in r if x is not None]
    return bool(v) and all(0.8 <= x <= 1.25 for x in v)


def checks(t):
    s, B = t["steps"], t["batches"]
    out = []
    for base, ada in (("nesterov", "lars:paper"), ("adam", "lamb:paper")):
        r = [ratio(a, b) for a, b in zip(s[base], s[ada])]
        out.append((f"Tuned {base} matches {ada} (steps within 25%) at every B",
                    ", ".join(f"B={b}: {x:.2f}" if x else f"B={b}: —" for b, x in zip(B, r)), matches(r)))
    return out


if __name__ == "__main__":
    res = results_arg()
    report(HERE, res, os.path.join(res, "sweep"), ["nesterov", "adam", "lars:paper", "lamb:paper"],
           [("nesterov", "lars:paper"), ("adam", "lamb:paper")], checks,
           "badly scaled sampled NQM: tuned Nesterov / Adam vs LARS / LAMB", real_mode="match")
