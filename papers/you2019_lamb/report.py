"""You et al. 2019 (LAMB) report from the shared large-batch studies (two simulated arms, NQM and MLP,
and the real study): Adam vs LAMB, checked with _lib.fewer_steps_checks. usage: report.py RESULTS_DIR"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_shared"))
sys.path.insert(0, os.path.join(HERE, ".."))
from _lib import fewer_steps_checks, results_arg  # noqa: E402
from large_batch_report import report  # noqa: E402

if __name__ == "__main__":
    report(HERE, results_arg(), ["adam", "lamb:paper"], [("adam", "lamb:paper")],
           fewer_steps_checks("adam", "lamb:paper", "Adam", "LAMB"), "Adam vs LAMB")
