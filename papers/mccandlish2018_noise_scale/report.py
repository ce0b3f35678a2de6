"""McCandlish et al. 2018 (NQM part) report: B_crit per target vs the noise scale.
usage: report.py RESULTS_DIR

B_crit(target) comes from batchlab's fit of S(B) = S_min (1 + B_crit / B) per target.
The noise scale "as training proceeds" is the one an estimator would see during the training run
that reaches the target: the best run at the smallest batch size (perfect-scaling regime), at
the step where it reaches the target. Its exact second moments are the closed form of
docs/science.md#closed-forms-for-a-constant-lr (SGD, constant lr):
s_i(t) = s*_i + (1 - lr h_i)^(2t) (s0 - s*_i), s*_i = lr c_i / (B h_i (2 - lr h_i)); then
    B_simple = sum c_i / sum h_i^2 s_i,   B_noise = sum h_i c_i / sum h_i^3 s_i
(ratios of expectations, as batchlab noise-scale reports them). Two cross-checks run before any
number is written: at t = 0 this equals `batchlab noise-scale`'s exact_expected values, and
1/2 sum h_i s_i(t) equals batchlab's final_metric of every reached best trial (rel. 1e-6)."""
import configparser
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from _lib import (best_per_batch, claims_section, claims_table, fits, fmt, md_table, plt, publish,  # noqa: E402
                  read_json, report_dir, results_arg, steps, timing_line, write_csv)

HERE = os.path.dirname(os.path.abspath(__file__))


def nqm_spectrum(ini):
    c = configparser.ConfigParser(inline_comment_prefixes=("#",))
    c.read(ini)
    L = c["landscape"]
    i = np.arange(1, int(L["dim"]) + 1, dtype=float)
    return i ** -float(L["curvature_power"]), i ** -float(L["noise_power"]), float(L["init_variance"])


def moments(h, c, s0, batch, lr, t):
    """E[theta_i^2] after t SGD steps at constant lr and batch (closed form)."""
    ss = lr * c / (batch * h * (2 - lr * h))
    return ss + (1 - lr * h) ** (2 * t) * (s0 - ss)


def noise_scales(h, c, s):
    return np.sum(c) / np.sum(h ** 2 * s), np.sum(h * c) / np.sum(h ** 3 * s)


def real_section(study):
    """Fashion-MNIST: B_crit of the measured S(B) vs the trainer's B_simple (two-batch estimator)."""
    if not os.path.exists(os.path.join(study, "summary.json")):
        return ["", "### Fashion-MNIST (real training)", "", "Not run (no results in " + study + ")."]
    f, s = fits(study)
    opt = next(iter(f))
    fo = f[opt]
    per = s.get("noise_scale", {}).get("optimizers", {}).get(opt, {}).get("per_batch", [])
    best = best_per_batch(study)[opt]
    rows = [[p["batch_size"], steps(best[p["batch_size"]]) or best[p["batch_size"]]["status"], p["lr"], p["b_simple"]]
            for p in per]
    med = s["noise_scale"]["optimizers"][opt].get("b_simple_median") if per else None
    st = read_json(os.path.join(study, "study_timing.json"))
    out = ["", "### Fashion-MNIST (real training, `batchlab study`)", "",
           ("Quick grid (3 batch sizes, the square-root rule's lr, not tuned per batch size). "
            if study.rstrip("/").endswith("_quick") or os.path.realpath(study).endswith("_quick") else "Full grid. ") +
           f"MLP 784-256-256-10, 2 ranks, target test accuracy {s['target']:g}; the study took {st['wall_s']:.0f} s "
           f"when it ran its trials. B_simple is the trainer's two-batch estimate (rank gradient vs all-reduced "
           "gradient, EMAs of numerator and denominator) at the end of the best trial of each batch size.", "",
           md_table(["B", "steps to target", "lr", "B_simple at the end"], rows), ""]
    if fo.get("b_crit") and med:
        r = fo["b_crit"] / med
        out += [f"B_crit (fit, {fo['fit_points']} points) = {fo['b_crit']:.4g}; median B_simple = {med:.4g}; "
                f"ratio {r:.3g}.", "",
                claims_table([("B_crit ~ B_simple within an order of magnitude (Fashion-MNIST)", f"ratio {r:.3g}",
                               0.1 < r < 10)])]
    else:
        out += ["B_crit: fewer than 2 batch sizes reached the target, no fit."]
    return out


def main():
    res = results_arg()
    out = report_dir(HERE, res)  # the paper folder, or results_quick/ for --quick
    ns = read_json(os.path.join(res, "noise_scale", "noise_scale.json"))
    dirs = sorted(glob.glob(os.path.join(res, "target_*")), key=lambda d: -float(d.rsplit("_", 1)[1]))
    h, c, s0 = nqm_spectrum(os.path.join(dirs[0], "config.ini"))
    init_loss = 0.5 * np.sum(h * s0)
    # tau = 0 cross-check against batchlab noise-scale (exact, in expectation over theta_0)
    b_simple0 = np.sum(c) / np.sum(h ** 2 * s0)
    b_noise0 = np.sum(h * c) / np.sum(h ** 3 * s0)
    ex = ns["exact_expected"]
    agree = abs(b_simple0 / ex["b_simple"] - 1) < 1e-9 and abs(b_noise0 / ex["b_noise"] - 1) < 1e-9
    if not agree:
        sys.exit(f"noise scale at tau=0: numpy {b_simple0}, {b_noise0} != batchlab {ex['b_simple']}, {ex['b_noise']}")

    rows, curves = [], []
    for d in dirs:
        target = float(d.rsplit("_", 1)[1])
        f, _ = fits(d)
        best = best_per_batch(d)["sgd"]
        bs = sorted(best)
        S = np.array([steps(best[b]) or np.nan for b in bs])
        curves.append((target, np.array(bs, dtype=float), S, f["sgd"]))
        for b in bs:  # closed form vs batchlab, every reached best trial
            r = best[b]
            if r["status"] != "reached":
                continue
            L = 0.5 * np.sum(h * moments(h, c, s0, b, float(r["lr"]), int(r["steps_to_target"])))
            if abs(L / float(r["final_metric"]) - 1) > 1e-6:
                sys.exit(f"{d}: B={b}: closed-form E[L] {L} != batchlab final_metric {r['final_metric']}")
        b0 = next(b for b in bs if best[b]["status"] == "reached")
        r0 = best[b0]
        bsimple, bnoise = noise_scales(h, c, moments(h, c, s0, b0, float(r0["lr"]), int(r0["steps_to_target"])))
        fs = f["sgd"]
        rows.append([target, fs["b_crit"], fs["s_min"], fs["e_min"], fs["fit_error"], bsimple, bnoise,
                     fs["b_crit"] / bnoise if fs["b_crit"] else None,
                     fs["b_crit"] / bsimple if fs["b_crit"] else None])
    headers = ["target E[L]", "B_crit (fit)", "S_min", "E_min", "fit rms", "B_simple when reached",
               "B_noise when reached", "B_crit / B_noise", "B_crit / B_simple"]
    write_csv(os.path.join(out, "summary.csv"),
              ["target", "b_crit", "s_min", "e_min", "fit_rms_log", "b_simple", "b_noise", "ratio_b_noise",
               "ratio_b_simple"], rows)

    bcrit = np.array([r[1] for r in rows], dtype=float)
    ratios_noise = np.array([r[7] for r in rows], dtype=float)
    grows = bool(np.all(np.diff(bcrit) > 0))
    within10 = bool(np.all((ratios_noise > 0.1) & (ratios_noise < 10)))
    within10_simple = bool(np.all((np.array([r[8] for r in rows], dtype=float) > 0.1) &
                                  (np.array([r[8] for r in rows], dtype=float) < 10)))
    checks = [
        ("B_crit grows as training proceeds (harder target)",
         " -> ".join(fmt(b) for b in bcrit), grows),
        ("B_crit ~ B_noise within an order of magnitude",
         "ratios " + ", ".join(f"{r:.2g}" for r in ratios_noise), within10),
        ("B_crit ~ B_simple within an order of magnitude",
         "ratios " + ", ".join(f"{r[8]:.2g}" for r in rows), within10_simple),
    ]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, (t, b, S, f) in enumerate(curves):
        a1.loglog(b, S, "o", ms=3, color=f"C{i}", label=f"target {t:g}")
        a1.loglog(b, f["s_min"] * (1 + f["b_crit"] / b), "-", lw=0.8, color=f"C{i}")
    a1.set_xlabel("batch size B")
    a1.set_ylabel("steps to target (SGD, best lr)")
    a1.set_title("NQM: S(B) per target; lines: S_min (1 + B_crit / B)")
    a1.legend(fontsize=8)
    a2.loglog([r[0] for r in rows], [r[5] for r in rows], "^-", label="B_simple when the target is reached")
    a2.loglog([r[0] for r in rows], [r[6] for r in rows], "v--", label="B_noise when the target is reached")
    a2.loglog([init_loss], [ex["b_simple"]], "^", color="C0")
    a2.loglog([init_loss], [ex["b_noise"]], "v", color="C1")
    a2.loglog([r[0] for r in rows], bcrit, "ko", label="B_crit (fit of measured S(B))")
    est = ns["estimator"]
    a2.errorbar([init_loss], [est["b_simple"]], yerr=[est["b_simple_se"]], fmt="s", color="C3",
                label=f"two-batch estimate at theta_0 (B {est['small_batch']}/{est['big_batch']})")
    a2.invert_xaxis()
    a2.set_xlabel("expected loss (training proceeds to the right)")
    a2.set_ylabel("batch size")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=120)

    at0 = ns["exact_at_theta0"]
    md = [timing_line(res), "",
          f"Noise scale at the start (`batchlab noise-scale`, E[L_0] = {init_loss:.3g}): exact in expectation "
          f"over theta_0: B_simple = {ex['b_simple']:.4g}, B_noise = {ex['b_noise']:.4g}; exact at the drawn "
          f"theta_0: B_simple = {at0['b_simple']:.4g}; two-batch estimator (B {est['small_batch']} / "
          f"{est['big_batch']}, {est['samples']} pairs, EMAs of numerator and denominator separately): "
          f"B_simple = {est['b_simple']:.4g} ± {est['b_simple_se']:.2g} (s.e.).", "",
          f"Noise scales \"when reached\": exact moments of the best run at the smallest batch size (B = {b0}) "
          "at the step it reaches the target (closed form, checked against batchlab's final_metric of every "
          "reached best trial to 1e-6 and against `batchlab noise-scale` at t = 0 to 1e-9).", "",
          md_table(headers, rows), ""]
    publish(HERE, res, md + claims_section(checks) + real_section(os.path.join(res, "real_fmnist")))


if __name__ == "__main__":
    main()
