"""Kaplan et al. 2020 / Zhang et al. 2024 / Merrill et al. 2025 / Hoffmann et al. 2022 on tiny GPTs.
usage: report.py RESULTS_DIR (one `batchlab study` output dir per model size, named gpt_L_W_H_C)

All measurements come from the trials' metrics.csv (lm_analysis.py says how):
(a) B_crit(L) of the middle model over a grid of target losses (every 0.1 nats from 3.0 down to
    the lowest loss every batch size reaches), fitted as B_crit = B* / L^(1/alpha_B);
(b) B_crit at the loss of each data budget D (the best loss any trial of that model has after D
    examples) for every model: gamma_D = d ln B_crit / d ln D at the middle model, gamma_N =
    d ln B_crit / d ln N at the largest budget;
(c) the online B_simple at each target's crossing beside B_crit;
(d) L(N, D) = E + A / N^alpha + B / D^beta through the (parameters, tokens, loss) points of every
    model at five data budgets (loss_nd.csv), fitted by `batchlab fit loss_nd.csv --law loss-nd`
    (the C++ fit, experiments/engine/loss_law.h; its loss_fit.csv holds the parameters, the
    compute-optimal exponents and their 95% pairs-bootstrap intervals).
Data budgets scale with the trials' budget W (windows): (b) at W/8, W/4, W/2; (d) at W/16 .. W.
Uncertainty of (a)-(c): 5-95% intervals over N_BOOT bootstrap replicates (lm_analysis.bootstrap_replicates).

The binary: $BATCHLAB_BIN (run.sh exports the one it trained with), else the first of
build/papers/rt, build/papers/sim, build/ci, build/release that exists."""
import csv
import math
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import lm_analysis as lm  # noqa: E402
from _lib import (claims_section, cpu_phrase, fmt, md_table, plt, publish, read_csv, read_json,  # noqa: E402
                  report_dir, results_arg, timing_line, write_csv)

TOKENS_PER_WINDOW = 64  # the models' context: an example is one window of 64 bytes
# Data budgets of (b) as fractions of the trials' budget W (windows): at most W/2, so that B = 32
# (whose budget is W too) can still reach the loss B = 8 has at the budget. Set by main().
BUDGET_FRACTIONS = [1 / 8, 1 / 4, 1 / 2]
LAW_FRACTIONS = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1]  # data budgets of the (d) points
BUDGETS, LAW_BUDGETS = [], []


def set_budgets(budget):
    """BUDGETS and LAW_BUDGETS from a trial's budget (summary.json "budget": W = max_epochs x
    train_examples windows, rounded to a power of 2: 16,384 in the full run)."""
    w = 2 ** round(math.log2(budget["max_epochs"] * budget["train_examples"]))
    BUDGETS[:] = [int(w * f) for f in BUDGET_FRACTIONS]
    LAW_BUDGETS[:] = [int(w * f) for f in LAW_FRACTIONS]
# The record: this paper's full design (run.sh) has not been run on this machine (its 27 trials
# are ~2.5x the quick run's CPU time: 1.5x the trials, 1.7x the windows per trial); until it has, the README's generated section, figure.png and the summary tables
# in the paper folder are the --quick run's, which says so in its first line. Set False once a full
# run exists, and the quick run goes back to results_quick/report.md like every other paper's.
RECORD_IS_QUICK = True
TARGET_TOP, TARGET_STEP = 3.0, 0.1  # (a): targets from 3.0 nats down (unigram plateau ~3.2)
KAPLAN_ALPHA_B = 0.21
N_BOOT = 200


def label(name):
    """gpt_2_64_4_64 -> gpt:2-64-4-64 (a study dir's name -> the model's)."""
    return "gpt:" + "-".join(name.split("_")[1:])


def load(res):
    """[(name, parameters, trials)] of every model study in res, smallest model first."""
    out = []
    for name in sorted(os.listdir(res)):
        d = os.path.join(res, name)
        if name.startswith("gpt_") and os.path.exists(os.path.join(d, "real_trials.csv")):
            trials = lm.load_study(d)
            if trials:
                out.append((name, trials[0].parameters, trials))
    if len(out) < 1:
        sys.exit(f"{res}: no gpt_* study output dirs")
    return sorted(out, key=lambda m: m[1])


def targets_of(trials):
    """Target losses every 0.1 nats from TARGET_TOP down to the lowest loss that every batch size
    reaches with its best trial."""
    reach = max(min(t.loss.min() for t in trials if t.batch == b) for b in {t.batch for t in trials})
    lo = math.ceil(reach / TARGET_STEP - 1e-9) * TARGET_STEP
    n = int(round((TARGET_TOP - lo) / TARGET_STEP))
    return [round(TARGET_TOP - k * TARGET_STEP, 3) for k in range(n + 1)]


def measure(models, losses=None, picks=None):
    """Every measurement of (a)-(d) on the curves (measured, or one bootstrap replicate's losses
    and picks per model): {"a": {model: [(L, fit, best, b_simple)]}, "b": {model: [(D, L_D, fit)]},
    "nd": [(N, tokens, L)]}."""
    out = {"a": {}, "b": {}, "nd": []}
    for k, (name, n_params, trials) in enumerate(models):
        ls = None if losses is None else losses[k]
        pk = None if picks is None else picks[k]
        out["a"][name] = []
        for L in targets_of(trials):
            fit, best = lm.bcrit_at(trials, L, ls, pk)
            out["a"][name].append((L, fit, best, lm.b_simple_at(best, L) if losses is None else None))
        out["b"][name] = []
        for D in BUDGETS:
            L_D = lm.budget_loss(trials, D, ls)
            fit = lm.bcrit_at(trials, L_D, ls, pk)[0] if L_D is not None else None
            out["b"][name].append((D, L_D, fit))
        for D in LAW_BUDGETS:
            L_D = lm.budget_loss(trials, D, ls)
            if L_D is not None:
                out["nd"].append((n_params, D * TOKENS_PER_WINDOW, L_D))
    return out


def exponents(m, models, main):
    """The fitted exponents of one measurement set: (a) k = 1/alpha_B and ln B* of the main model,
    (b) gamma_D (main model) and gamma_N (largest budget); None where a fit is missing."""
    pts = [(L, f["b_crit"]) for L, f, _, _ in m["a"][main] if f and f["bounded"]]
    k = ln_bstar = None
    if len(pts) >= 2:
        slope, icpt = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)
        k, ln_bstar = -float(slope), float(icpt)
    bd = [(D, f["b_crit"]) for D, _, f in m["b"][main] if f and f["bounded"]]
    g_d = lm.power_slope([p[0] for p in bd], [p[1] for p in bd])
    g_n = g_n_d = None
    for j in reversed(range(len(BUDGETS))):  # the largest budget at which every model has a bend
        bn = [(n, m["b"][name][j][2]) for name, n, _ in models]
        if all(f and f["bounded"] for _, f in bn):
            g_n = lm.power_slope([n for n, _ in bn], [f["b_crit"] for _, f in bn])
            g_n_d = BUDGETS[j]
            break
    return {"k": k, "ln_bstar": ln_bstar, "gamma_d": g_d, "gamma_n": g_n, "gamma_n_d": g_n_d}


def bootstrap(models, main):
    """N_BOOT replicates of every exponent and of each (model, target) and (model, budget) B_crit
    (the loss law's intervals are batchlab fit's own)."""
    reps = [list(lm.bootstrap_replicates(trials, N_BOOT, seed=k)) for k, (_, _, trials) in enumerate(models)]
    samples = {"exp": [], "a": {}, "b": {}}
    for r in range(N_BOOT):
        m = measure(models, [reps[k][r][0] for k in range(len(models))], [reps[k][r][1] for k in range(len(models))])
        samples["exp"].append(exponents(m, models, main))
        for name in m["a"]:
            for L, f, _, _ in m["a"][name]:
                samples["a"].setdefault((name, L), []).append(f["b_crit"] if f and f["bounded"] else None)
            for D, _, f in m["b"][name]:
                samples["b"].setdefault((name, D), []).append(f["b_crit"] if f and f["bounded"] else None)
    return samples


def ci_text(lo_hi, digits=3):
    lo, hi = lo_hi
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]" if lo is not None else "—"


def part_a(m, samples, main, exps):
    """(a) and (c) of the main model: the per-target table and the alpha_B fit line."""
    rows, csv_rows = [], []
    batches = sorted({b for _, _, best, _ in m["a"][main] for b in best})
    for L, f, best, bs in m["a"][main]:
        ci = lm.interval(samples["a"].get((main, L), []))
        bc = f["b_crit"] if f and f["bounded"] else None
        rows.append([L] + [best[b][0] if b in best else "not reached" for b in batches] +
                    [bc if bc else ("no bend on the grid" if f else "—"), ci_text(ci), f["s_min"] if f else None,
                     f["rms"] if f else None, bs, bs / bc if (bs and bc) else None])
        csv_rows.append([main, L] + [best[b][0] if b in best else None for b in batches] + [bc, ci[0], ci[1],
                        f["s_min"] if f else None, f["rms"] if f else None, bs])
    heads = ["target L (nats)"] + [f"S(B={b})" for b in batches] + ["B_crit (windows)", "5-95%", "S_min",
                                                                      "rms ln S", "B_simple", "B_simple / B_crit"]
    return md_table(heads, rows), csv_rows, batches


def part_b(m, samples, models):
    rows, csv_rows = [], []
    for name, n, _ in models:
        cells = [label(name), n]
        for D, L_D, f in m["b"][name]:
            bc = f["b_crit"] if f and f["bounded"] else None
            ci = lm.interval(samples["b"].get((name, D), []))
            cells.append(f"{fmt(L_D)} / {fmt(bc) if bc else '—'} {ci_text(ci)}")
            csv_rows.append([name, n, D, D * TOKENS_PER_WINDOW, L_D, bc, ci[0], ci[1]])
        rows.append(cells)
    heads = ["model", "parameters"] + [f"D = {D} windows ({D * TOKENS_PER_WINDOW / 1e6:.2g}M tokens): L / B_crit [5-95%]"
                                       for D in BUDGETS]
    return md_table(heads, rows), csv_rows


def lr_grid_text(models):
    """'gpt:1-32-2-64 1 lr per B (0.004), ...': how many lrs each model's study ran per batch size,
    and which at B = 32."""
    parts = []
    for name, _, trials in models:
        n = max(sum(t.batch == b for t in trials) for b in {t.batch for t in trials})
        lrs = sorted({t.lr for t in trials if t.batch == 32})
        parts.append(f"{label(name)} {n} lr{'s' if n > 1 else ''} per B ({', '.join(f'{x:.3g}' for x in lrs)})")
    return ", ".join(parts)


def rule_lr_only(trials):
    """The trials at the square-root rule's lr: per batch size the one whose lr multiplier (trials.csv)
    is nearest 1 (1 in the grids run.sh runs: 0.5, 1, 2 and 1, 2), or the only one."""
    out = []
    for b in sorted({t.batch for t in trials}):
        out.append(min((t for t in trials if t.batch == b), key=lambda t: abs(math.log(t.lr_multiplier))))
    return out


def tuning_line(models, main):
    """How much the lr grid moves B_crit on the main model: its (b) B_crit from the rule's lr
    alone vs from the best of its lrs (whether the other models ran a grid too: lr_grid_text)."""
    trials = dict((n, t) for n, _, t in models)[main]
    if len(rule_lr_only(trials)) == len(trials):
        return ""
    cells = []
    for D in BUDGETS:
        L_D = lm.budget_loss(trials, D)
        tuned = lm.bcrit_at(trials, L_D)[0]
        rule = lm.bcrit_at(rule_lr_only(trials), L_D)[0]
        cells.append(f"D = {D}: {fmt(rule['b_crit']) if rule and rule['bounded'] else '—'} at the rule's lr vs "
                     f"{fmt(tuned['b_crit']) if tuned and tuned['bounded'] else '—'} tuned")
    return (f"Lr tuning on {label(main)}, B_crit at each budget's loss: "
            + "; ".join(cells) + ".")


def merrill_points(m):
    """(model, L, B_crit, B_simple) at every target of every model where both exist."""
    return [(name, L, f["b_crit"], bs) for name in m["a"] for L, f, _, bs in m["a"][name]
            if f and f["bounded"] and bs]


def batchlab_binary():
    """$BATCHLAB_BIN, else the first built batchlab of build/papers/rt, build/papers/sim, build/ci,
    build/release (the module docstring)."""
    if os.environ.get("BATCHLAB_BIN"):
        return os.environ["BATCHLAB_BIN"]
    repo = os.path.dirname(os.path.dirname(HERE))
    for d in ("papers/rt", "papers/sim", "ci", "release"):
        p = os.path.join(repo, "build", d, "experiments", "batchlab")
        if os.access(p, os.X_OK):
            return p
    sys.exit("report.py: no batchlab binary for (d): set BATCHLAB_BIN or build one (cmake --preset ci)")


def write_lf_csv(path, headers, rows):
    """A CSV with LF line ends: batchlab fit --law loss-nd reads the header's last name with a CRLF
    file's carriage return in it ("no column 'loss'"), and _lib.write_csv writes CRLF."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(headers)
        w.writerows(rows)


def fit_law(csv_path, out_dir):
    """(d) by `batchlab fit CSV --law loss-nd --columns parameters,tokens,loss --output OUT_DIR`:
    {E, A, B, alpha, beta, a_N, b_D, G: value} and "ci" {name: (lo, hi)} (95% pairs bootstrap) from
    its loss_fit.csv, "rms" of ln L residuals and "starts" from its first line of output."""
    cmd = [batchlab_binary(), "fit", csv_path, "--law", "loss-nd", "--columns", "parameters,tokens,loss",
           "--output", out_dir]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"report.py: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    law = {"ci": {}, "command": "batchlab fit loss_nd.csv --law loss-nd --columns parameters,tokens,loss"}
    for row in read_csv(os.path.join(out_dir, "loss_fit.csv"), ["parameter", "value", "lo", "hi"]):
        law[row["parameter"]] = float(row["value"])
        law["ci"][row["parameter"]] = (float(row["lo"]), float(row["hi"]))
    head = r.stdout.splitlines()[0]  # "...: 15 rows, 4500 L-BFGS starts, Huber objective 0.01, rms ln error 0.02"
    law["starts"] = int(head.split(" L-BFGS starts")[0].rsplit(" ", 1)[1])
    return law


def part_d(m, law):
    """(d): the fitted law, its exponents' intervals and the compute-optimal exponents."""
    if law is None:
        return ["Loss law: not fitted (it needs three model sizes; this run has "
                f"{len({p[0] for p in m['nd']})})."], {}
    a, b = law["a_N"], law["b_D"]
    ci = law["ci"]
    N, T, L = (np.array(c, float) for c in zip(*m["nd"]))
    rms = float(np.sqrt(np.mean((np.log(lm.loss_nd_predict(law, N, T)) - np.log(L)) ** 2)))
    md = [f"`{law['command']}` (Hoffmann et al.'s approach 3: Huber delta 1e-3 on ln L, L-BFGS from "
          f"{law['starts']} starts; {len(L)} points; loss_fit.csv): "
          f"L(N, D) = {law['E']:.3f} + {law['A']:.4g} / N^{law['alpha']:.3f} + {law['B']:.4g} / D^{law['beta']:.3f} "
          f"(N parameters, D tokens); alpha {ci_text(ci['alpha'])}, beta {ci_text(ci['beta'])}, E {ci_text(ci['E'])} "
          f"(95%, the command's pairs bootstrap over the points); rms of ln L residuals {rms:.4f}. Compute-optimal "
          f"(C = 6 N D): N_opt ~ C^{a:.2f}, D_opt ~ C^{b:.2f} (a_N = beta / (alpha + beta) in "
          f"{ci_text(ci['a_N'], 2)})."]
    return md, {"a": a, "b": b, "rms": rms, "ci_a": ci["a_N"]}


def figure(m, models, main, law, path):
    fig, ax = plt.subplots(2, 2, figsize=(11, 8.5))
    # (a) S(B) at a few targets of the main model
    a0 = ax[0][0]
    rows = m["a"][main]
    for L, f, best, _ in rows[::max(1, len(rows) // 4)]:
        B = sorted(best)
        line = a0.loglog(B, [best[b][0] for b in B], "o-", label=f"L = {L:.1f}")[0]
        if f and f["bounded"]:
            x = np.logspace(math.log10(B[0]), math.log10(B[-1]), 50)
            a0.loglog(x, f["s_min"] * (1 + f["b_crit"] / x), "--", color=line.get_color(), lw=0.8)
    a0.set_xlabel("batch size B (windows of 64 bytes)")
    a0.set_ylabel("steps to validation loss L")
    a0.set_title(f"(a) {label(main)}: S(B) per target, fit dashed", fontsize=9)
    a0.legend(fontsize=7)
    # (a)+(c) B_crit and B_simple against the target, every model
    a1 = ax[0][1]
    for name, n, _ in models:
        pts = [(L, f["b_crit"], bs) for L, f, _, bs in m["a"][name] if f and f["bounded"]]
        if pts:
            line = a1.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"B_crit {label(name)}")[0]
            a1.loglog([p[0] for p in pts if p[2]], [p[2] for p in pts if p[2]], "x:", color=line.get_color(),
                      label=f"B_simple {label(name)}")
    a1.set_xlabel("target validation loss L (nats/token)")
    a1.set_ylabel("batch (windows)")
    a1.set_title("(a, c) B_crit and online B_simple vs target", fontsize=9)
    a1.legend(fontsize=6)
    # (b) B_crit vs data budget per model
    a2 = ax[1][0]
    for name, n, _ in models:
        pts = [(D * TOKENS_PER_WINDOW, f["b_crit"]) for D, _, f in m["b"][name] if f and f["bounded"]]
        if pts:
            a2.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{label(name)} ({n} params)")
    a2.set_xlabel("data budget D (tokens)")
    a2.set_ylabel("B_crit at the budget's loss (windows)")
    a2.set_title("(b) B_crit vs data budget, per model size", fontsize=9)
    a2.legend(fontsize=7)
    # (d) L(N, D) points and the fitted law
    a3 = ax[1][1]
    for name, n, _ in models:
        pts = sorted((t, L) for N, t, L in m["nd"] if N == n)
        line = a3.semilogx([p[0] for p in pts], [p[1] for p in pts], "o", label=f"{label(name)}")[0]
        if law is not None:
            x = np.logspace(math.log10(pts[0][0]), math.log10(pts[-1][0]), 50)
            a3.semilogx(x, lm.loss_nd_predict(law, n, x), "-", color=line.get_color(), lw=0.8)
    a3.set_xlabel("tokens D")
    a3.set_ylabel("best validation loss after D (nats/token)")
    a3.set_title("(d) L(N, D) points and E + A/N^alpha + B/D^beta", fontsize=9)
    a3.legend(fontsize=7)
    fig.suptitle("Critical batch and loss law of tiny GPTs on gcide bytes (batchlab, one rank, real training)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def checks_of(m, exps, ci, models, main, law_info):
    """The claims, checked on the measured numbers and their bootstrap intervals."""
    k, g_d, g_n = exps["k"], exps["gamma_d"], exps["gamma_n"]
    alpha = 1 / k if k and k > 0 else None
    ci_alpha = tuple(1 / x if x and x > 0 else None for x in ci["k"][::-1])
    mp = merrill_points(m)
    under = sum(bs < bc for _, _, bc, bs in mp)
    c = [("Kaplan et al. 2020: B_crit grows as the target loss falls (d ln B_crit / d ln L < 0, its 5-95% interval "
          f"too; {label(main)})", f"1/alpha_B = {fmt(k)} {ci_text(ci['k'])}", bool(k and ci["k"][0] and ci["k"][0] > 0)),
         (f"Kaplan et al. 2020: alpha_B ~ {KAPLAN_ALPHA_B} (inside the 5-95% interval)",
          f"alpha_B = {fmt(alpha)} {ci_text(ci_alpha)}",
          bool(ci_alpha[0] and ci_alpha[1] and min(ci_alpha) <= KAPLAN_ALPHA_B <= max(ci_alpha))),
         (f"Zhang et al. 2024: B_crit grows with the data budget at fixed model size ({label(main)}: gamma_D > 0, "
          "5-95% interval above 0)", f"gamma_D = {fmt(g_d)} {ci_text(ci['gamma_d'])}",
          bool(g_d and ci["gamma_d"][0] and ci["gamma_d"][0] > 0)),
         ("Zhang et al. 2024: B_crit hardly grows with model size at a fixed data budget (|gamma_N| < gamma_D / 2 in "
          "at least 90% of the replicates; " + (f"D = {exps['gamma_n_d']} windows, the largest budget where every "
                                                 "model's S(B) bends)" if exps["gamma_n_d"] else
                                                 "no budget where every model's S(B) bends)"),
          f"gamma_N = {fmt(g_n)} {ci_text(ci['gamma_n'])} vs gamma_D = {fmt(g_d)}; in {ci['hardly'] * 100:.0f}% of replicates"
          if ci["hardly"] is not None else f"gamma_N = {fmt(g_n)}, gamma_D = {fmt(g_d)}",
          bool(ci["hardly"] is not None and ci["hardly"] >= 0.9)),
         ("Merrill et al. 2025: the gradient noise scale underestimates the critical batch under Adam "
          "(online B_simple < B_crit at >= 2/3 of the (model, target) points)",
          f"{under} of {len(mp)} points; median B_simple / B_crit "
          f"{fmt(float(np.median([bs / bc for _, _, bc, bs in mp]))) if mp else '—'}",
          bool(mp and under >= 2 * len(mp) / 3))]
    if law_info:
        c.append(("(ours) Hoffmann et al. 2022 approach 3: the law fits the (N, D, loss) points to rms 0.02 in ln L",
                  f"rms {law_info['rms']:.4f}", law_info["rms"] < 0.02))
    return c


def cpu_text(res):
    """' The studies used X CPU-seconds ...' from run.sh's cpu_times.txt, or '' without one."""
    cpu = cpu_phrase(res, "run.sh")
    return (f" The studies used {cpu}: every trial runs on one thread, so that is the run's cost on one idle core "
            "(half of it on two, where the study runs two trials at a time); the rest of the wall-clock is "
            "waiting for a core on the shared machine." if cpu else "")


def timing_rows(res, models):
    rows, total = [], 0.0
    for name, n, _ in models:
        d = os.path.join(res, name)
        trials = read_csv(os.path.join(d, "trials.csv"), ["wall_s", "batch_size", "lr"])
        t = read_json(os.path.join(d, "study_timing.json"))
        began = read_json(os.path.join(d, "summary.json"))["provenance"]["started_utc"]
        starts = [read_json(os.path.join(d, r["dir"], "summary.json"))["provenance"]["started_utc"]
                  for r in read_csv(os.path.join(d, "real_trials.csv"), ["dir"])]
        reused = sum(s < began for s in starts)
        trial_s = sum(float(r["wall_s"]) for r in trials)
        total += t["wall_s"]
        rows.append([label(name), n, len(trials), reused, trial_s, t["wall_s"], t["load_avg_1min"]])
    return md_table(["model", "parameters", "trials", "reused", "sum of trial wall_s", "study wall (s)",
                     "load at end"], rows)


def main():
    res = results_arg()
    out = report_dir(HERE, res, RECORD_IS_QUICK)
    models = load(res)
    set_budgets(read_json(os.path.join(res, models[0][0], "summary.json"))["budget"])
    main_name = models[len(models) // 2][0]
    m = measure(models)
    write_lf_csv(os.path.join(out, "loss_nd.csv"), ["parameters", "tokens", "loss"], m["nd"])
    law = None
    if len(models) >= 3 and len(m["nd"]) >= 6:  # alpha needs three model sizes
        law = fit_law(os.path.join(out, "loss_nd.csv"), out)
    exps = exponents(m, models, main_name)
    samples = bootstrap(models, main_name)
    ci = {key: lm.interval([e[key] for e in samples["exp"]]) for key in ("k", "gamma_d", "gamma_n")}
    pairs = [(e["gamma_n"], e["gamma_d"]) for e in samples["exp"] if e["gamma_n"] is not None and e["gamma_d"]]
    ci["hardly"] = (sum(abs(gn) < gd / 2 for gn, gd in pairs) / len(pairs)) if pairs else None
    table_a, csv_a, batches = part_a(m, samples, main_name, exps)
    table_b, csv_b = part_b(m, samples, models)
    md_d, law_info = part_d(m, law)
    write_csv(os.path.join(out, "summary.csv"),
              ["model", "target_loss"] + [f"steps_b{b}" for b in batches] +
              ["b_crit", "b_crit_p5", "b_crit_p95", "s_min", "fit_rms", "b_simple"], csv_a)
    write_csv(os.path.join(out, "summary_budgets.csv"),
              ["model", "parameters", "budget_windows", "budget_tokens", "budget_loss", "b_crit", "b_crit_p5",
               "b_crit_p95"], csv_b)
    figure(m, models, main_name, law, os.path.join(out, "figure.png"))
    cfg = read_json(os.path.join(res, models[0][0], "summary.json"))
    k = exps["k"]
    md = [timing_line(res) + cpu_text(res) + " Per study (one per model size):", "", timing_rows(res, models), "",
          f"Grid: {', '.join(label(n) for n, _, _ in models)}; B = {', '.join(str(b) for b in batches)} windows of "
          f"{TOKENS_PER_WINDOW} bytes; {lr_grid_text(models)} (lr at B = 32; the square-root rule sets the other "
          f"batch sizes' lr); one seed; budget {cfg.get('budget')} (steps = max(max_steps, "
          f"max_epochs x train_examples / B)); {N_BOOT} bootstrap replicates.", "",
          f"**(a, c) B_crit against the target loss, {label(main_name)}** (S(B): steps to the target, best over the lr "
          "grid, interpolated between evaluations; B_simple: median over the best trials of the online estimate at "
          "their crossing):", "", table_a, "",
          (f"Fit over the targets with a bend on the grid: B_crit = {math.exp(exps['ln_bstar']):.4g} / L^{k:.2f} windows "
           f"(alpha_B = {1 / k:.3f}; B* = {math.exp(exps['ln_bstar']) * TOKENS_PER_WINDOW:.3g} tokens), 1/alpha_B "
           f"{ci_text(ci['k'])} (5-95%)." if k else "Fit: fewer than 2 targets with a bend on the grid."), "",
          "**(b) B_crit at the loss of each data budget** (L = the best loss any trial of the model has after D "
          "windows; B_crit of S(B) to that L):", "", table_b, "",
          f"gamma_D (d ln B_crit / d ln D, {label(main_name)}) = {fmt(exps['gamma_d'])} {ci_text(ci['gamma_d'])}; "
          + (f"gamma_N (d ln B_crit / d ln N at D = {exps['gamma_n_d']} windows, the largest budget where every "
             f"model's S(B) bends) = {fmt(exps['gamma_n'])} {ci_text(ci['gamma_n'])} (5-95%). "
             if exps["gamma_n_d"] else "gamma_N: no budget at which every model's S(B) bends on the grid. ")
          + tuning_line(models, main_name), "",
          "**(d) Loss law** from the (parameters, tokens, best loss) points of every model at D = "
          f"{', '.join(str(d) for d in LAW_BUDGETS)} windows (loss_nd.csv):", ""] + md_d + [""]
    md += claims_section(checks_of(m, exps, ci, models, main_name, law_info))
    publish(HERE, res, md, RECORD_IS_QUICK)


if __name__ == "__main__":
    main()
