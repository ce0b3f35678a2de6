"""You et al. 2017 (LARS) report from the shared large-batch studies (two simulated arms, NQM and MLP,
and the real study): momentum vs LARS, checked with _lib.fewer_steps_checks. usage: report.py RESULTS_DIR"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_shared"))
sys.path.insert(0, os.path.join(HERE, ".."))
from _lib import fewer_steps_checks, results_arg  # noqa: E402
from large_batch_report import report  # noqa: E402

if __name__ == "__main__":
    report(HERE, results_arg(), ["momentum", "lars:paper"], [("momentum", "lars:paper")],
           fewer_steps_checks("momentum", "lars:paper", "momentum", "LARS"), "momentum vs LARS",
           # the real study's momentum-SGD baseline is Nesterov (the machine's time budget fits one)
           real_optimizers=["nesterov", "lars:paper"], real_pairs=[("nesterov", "lars:paper")])
