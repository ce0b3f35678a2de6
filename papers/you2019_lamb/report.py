"""You et al. 2019 (LAMB) report from the shared large-batch studies (two simulated arms, NQM and MLP,
and the real study). usage: report.py RESULTS_DIR"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_shared"))
sys.path.insert(0, os.path.join(HERE, ".."))
from _lib import results_arg  # noqa: E402
from large_batch_report import ratio, report  # noqa: E402


def checks(t):
    s, B = t["steps"], t["batches"]
    r = [ratio(a, b) for a, b in zip(s["adam"], s["lamb:paper"])]
    big = [x for x in r[-2:] if x is not None]
    return [
        ("LAMB needs fewer steps than Adam at large B (ratio > 1.2 at the two largest B)",
         ", ".join(f"B={b}: {x:.2f}" if x else f"B={b}: —" for b, x in zip(B, r)),
         len(big) == 2 and min(big) > 1.2),
        ("LAMB's advantage grows with B (ratio at the largest B > ratio at the smallest)",
         f"{r[0]:.2f} at B={B[0]} -> {r[-1]:.2f} at B={B[-1]}" if r[0] and r[-1] else "—",
         bool(r[0] and r[-1] and r[-1] > r[0])),
    ]


if __name__ == "__main__":
    res = results_arg()
    report(HERE, res, ["adam", "lamb:paper"], [("adam", "lamb:paper")], checks, "Adam vs LAMB")
