"""Nado et al. 2021 report from the shared large-batch studies (two simulated arms, NQM and MLP, and the
real study). usage: report.py RESULTS_DIR"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_shared"))
sys.path.insert(0, os.path.join(HERE, ".."))
from _lib import ratios_text, results_arg, step_ratios  # noqa: E402
from large_batch_report import report  # noqa: E402


def suffices(base_steps, ada_steps):
    """Nado et al.'s claim is one-sided (generic optimizers suffice): at every batch size the
    layer-wise optimizer reaches, the tuned baseline reaches too, with at most 25% more steps
    (ratio baseline / layer-wise <= 1.25). A baseline that needs fewer steps (ratio < 1), or that
    reaches where the layer-wise one does not, supports the claim."""
    compared = [(b, a) for b, a in zip(base_steps, ada_steps) if a is not None]
    return bool(compared) and all(b is not None and b / a <= 1.25 for b, a in compared)


def checks(t):
    s, B = t["steps"], t["batches"]
    out = []
    for base, ada in (("nesterov", "lars:paper"), ("adam", "lamb:paper")):
        out.append((f"Tuned {base} suffices: at most 25% more steps than {ada} (ratio <= 1.25) at every B",
                    ratios_text(B, step_ratios(t, base, ada)), suffices(s[base], s[ada])))
    return out


if __name__ == "__main__":
    res = results_arg()
    report(HERE, res, ["nesterov", "adam", "lars:paper", "lamb:paper"],
           [("nesterov", "lars:paper"), ("adam", "lamb:paper")], checks,
           "tuned Nesterov / Adam vs LARS / LAMB", real_mode="match")
