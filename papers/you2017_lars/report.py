"""You et al. 2017 (LARS) report from the shared large-batch studies (two simulated arms, NQM and MLP,
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
    r = [ratio(a, b) for a, b in zip(s["momentum"], s["lars:paper"])]
    big = [x for x in r[-2:] if x is not None]
    small = r[0]
    return [
        ("LARS needs fewer steps than momentum at large B (ratio > 1.2 at the two largest B)",
         ", ".join(f"B={b}: {x:.2f}" if x else f"B={b}: —" for b, x in zip(B, r)),
         len(big) == 2 and min(big) > 1.2),
        ("LARS's advantage grows with B (ratio at the largest B > ratio at the smallest)",
         f"{small:.2f} at B={B[0]} -> {r[-1]:.2f} at B={B[-1]}" if small and r[-1] else "—",
         bool(small and r[-1] and r[-1] > small)),
    ]


if __name__ == "__main__":
    res = results_arg()
    report(HERE, res, ["momentum", "lars:paper"], [("momentum", "lars:paper")], checks, "momentum vs LARS",
           # the real study's momentum-SGD baseline is Nesterov (the machine's time budget fits one)
           real_optimizers=["nesterov", "lars:paper"], real_pairs=[("nesterov", "lars:paper")])
