#!/usr/bin/env python3
"""The Python module runs the CLI's own code: file for file, number for number, message for message.

usage: test_module.py BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR   (PYTHONPATH = <build>/python)

  * sweep() writes the CLI's files byte for byte (run in two directories with the same relative
    output.dir, so config.ini and provenance argv agree). Excluded, as they legitimately differ:
    trials.csv's wall_s column and summary.json's provenance.started_utc / finished_utc.
  * nqm_steps_to_target equals the sweep's steps_to_target of every trial; nqm_expected_loss
    equals its curves.csv values.
  * optimizers.make(...).step reproduces tests/optim/rules_reference_data.h (float64 1e-12,
    float32 2e-5, as tests/optim/test_rules_reference.cpp).
  * a bad config raises ConfigError whose text is the CLI's stderr line; nothing is written.
  * wrong dtypes / shapes raise TypeError / ValueError naming the argument.
  * Ctrl-C (SIGINT) during sweep() raises KeyboardInterrupt, leaves a prefix of trials.csv, and
    the same call resumes to the CLI's files.
  * python3 -m batchlab sweep is the CLI (same files, same exit status 2 and line).
  * no libtorch in /proc/self/maps after all of it.
"""
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

import batchlab

BIN, SRC, SCRATCH = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
CI_SMALL = str(SRC / "experiments/configs/ci_small.ini")
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def cli(args, cwd, **kw):
    """The CLI with argv[0] = "batchlab", as sweep() records it."""
    return subprocess.run(["batchlab"] + args, executable=BIN, cwd=cwd, capture_output=True, text=True, **kw)


def files_of(d):
    """The results with what legitimately differs between two runs taken out."""
    out = {}
    for f in sorted(Path(d).iterdir()):
        if f.suffix not in (".csv", ".ini", ".json"):
            continue
        text = f.read_text()
        if f.name == "summary.json":
            text = re.sub(r'"(started|finished)_utc": "[^"]*"', r'"\1_utc": ""', text)
        if f.name == "trials.csv":
            lines = [l.split(",") for l in text.splitlines()]
            col = lines[0].index("wall_s")
            text = "\n".join(",".join(c for i, c in enumerate(l) if i != col) for l in lines)
        out[f.name] = text
    return out


def fresh(name):
    d = SCRATCH / name
    subprocess.run(["rm", "-rf", str(d)], check=True)
    d.mkdir(parents=True)
    return d


# ---- sweep() == the CLI, file for file ----
a, b = fresh("cli"), fresh("py")
r = cli(["sweep", CI_SMALL, "--output.dir=out", "--no-plot"], cwd=a)
check(r.returncode == 0, f"CLI sweep ran ({r.stderr.strip()[-200:]})")
os.chdir(b)
study = batchlab.sweep(CI_SMALL, plot=False, **{"output.dir": "out"})
os.chdir(SCRATCH)
fa, fb = files_of(a / "out"), files_of(b / "out")
check(sorted(fa) == sorted(fb) and len(fa) >= 5, f"same result files ({sorted(fb)})")
for name in fa:
    check(fa[name] == fb.get(name), f"{name} equal byte for byte (but the excluded fields)")
check(study.dir == (b / "out").resolve(), "sweep() returns the Study of its output dir")
check(len(study.trials) == 80 and sorted(study.fit["optimizer"]) == ["momentum", "sgd"], "Study.trials / .fit")

# ---- fit(table) == the study's fit ----
f = batchlab.fit(study.steps_vs_batch)
for _, row in study.fit.iterrows():
    mine = f[f["optimizer"] == row["optimizer"]].iloc[0]
    check(math.isclose(mine["b_crit"], row["b_crit"], rel_tol=1e-12) and
          math.isclose(mine["s_min"], row["s_min"], rel_tol=1e-12), f"fit() = summary.json for {row['optimizer']}")

# ---- the analytic NQM == the engine's trials ----
t = study.trials
for opt in ("sgd", "momentum"):
    rows = t[t["optimizer"] == opt]
    steps = batchlab.nqm_steps_to_target(rows["lr"].to_numpy(), rows["batch_size"].to_numpy(), optimizer=opt,
                                         momentum=0.9 if opt == "momentum" else 0.0, dim=200, target=0.05,
                                         max_steps=1000000)
    check(np.array_equal(steps, rows["steps_to_target"].to_numpy()), f"nqm_steps_to_target = trials.csv ({opt})")
c = study.curves
c = c[c["trial_id"] == 3].merge(t[["trial_id", "batch_size"]], on="trial_id")
loss = batchlab.nqm_expected_loss(c["lr"].to_numpy(), c["batch_size"].to_numpy(), c["step"].to_numpy(), dim=200)
check(np.allclose(loss, c["value"].to_numpy(), rtol=1e-9, atol=0), "nqm_expected_loss = curves.csv")
grid = batchlab.nqm_steps_to_target(np.array([[0.1], [0.3]]), [16, 64, 256], dim=200, target=0.05)
check(grid.shape == (2, 3), "nqm functions broadcast lr x batch_size")

# ---- update rules == the C++ tests' reference vectors ----
header = (SRC / "tests/optim/rules_reference_data.h").read_text()
FIELDS = ["momentum", "dampening", "beta1", "beta2", "eps", "weight_decay", "trust_coefficient", "trust_eps",
          "trust_clip", "lamb_phi_lower", "lamb_phi_upper", "max_grad_norm", "precond_power", "lr_in_momentum",
          "momentum_correction"]
SIZES, INIT, LRS = [4, 3, 3, 2], [0.5, -1.0, 1.5, 0.2, 0.1, -0.2, 0.3, -0.7, 0.4, 0.9, 0.0, 0.0], [0.1, 0.12, 0.05, 0.2, 0.15, 0.1]
GROUPS = [{"name": "w1"}, {"name": "bias", "exclude_from_weight_decay": True, "exclude_from_adaptation": True},
          {"name": "w2", "lr_mult": 0.5, "weight_decay_mult": 0.0}, {"name": "zero"}]
H = 0.5 + 0.25 * np.arange(12)
num = lambda s: math.inf if s == "kInf" else (s == "true" if s in ("true", "false") else float(s))
cases = re.findall(r'\{"([^"]+)", "([^"]+)", ([^\n]+),\n\s+\{([^}]*)\},\n\s+\{([^}]*)\}\}', header)
check(len(cases) >= 15, f"{len(cases)} reference cases read")
for label, rule, scalars, final, trust in cases:
    opts = dict(zip(FIELDS, map(num, [s.strip() for s in scalars.rstrip(",").split(",")])))
    want = np.array([float(x) for x in final.split(",")])
    want_trust = np.array([float(x) for x in trust.split(",")])
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        opt = batchlab.optimizers.make(rule, groups=GROUPS, **opts)
        bounds = np.cumsum([0] + SIZES)
        w = [np.array(INIT[bounds[i]:bounds[i + 1]], dtype=dtype) for i in range(4)]
        if rule == "precond":
            for i in range(4):
                opt.set_curvature(i, H[bounds[i]:bounds[i + 1]])
        got_trust = []
        for step, lr in enumerate(LRS):
            flat = np.concatenate(w).astype(np.float64)
            g = H * flat + 0.3 * np.sin(0.9 * np.arange(12) + 1.3 * step + 0.1)
            opt.step(w, [g[bounds[i]:bounds[i + 1]].astype(dtype) for i in range(4)], lr)
            got_trust += opt.trust_ratios
        err = np.max(np.abs(np.concatenate(w) - want) / (1 + np.abs(want)))
        ok = err < tol and (dtype is np.float32 or np.max(np.abs(np.array(got_trust) - want_trust) / (1 + np.abs(want_trust))) < tol)
        check(ok, f"optimizers.make('{rule}') {np.dtype(dtype).name} = reference {label} (max rel diff {err:.1e})")

# ---- errors ----
bad = fresh("bad")
r = cli(["sweep", CI_SMALL, "--output.dir=out", "--study.target=-1", "--no-plot"], cwd=bad)
try:
    os.chdir(bad)
    batchlab.sweep(CI_SMALL, plot=False, **{"output.dir": "out", "study.target": -1})
    check(False, "a bad config raises ConfigError")
except batchlab.ConfigError as e:
    check(r.returncode == 2 and str(e) == r.stderr.strip(), f"ConfigError text = the CLI's line ({e})")
finally:
    os.chdir(SCRATCH)
check(not (bad / "out").exists(), "a bad config writes nothing")


def raises(kind, words, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except kind as e:
        check(all(w in str(e) for w in words), f"{kind.__name__} naming {words}: {e}")
        return
    except Exception as e:  # noqa: BLE001 - the wrong kind is the failure reported
        check(False, f"expected {kind.__name__} naming {words}, got {type(e).__name__}: {e}")
        return
    check(False, f"expected {kind.__name__} naming {words}, nothing raised")


opt = batchlab.optimizers.make("momentum", momentum=0.9)
raises(TypeError, ["params", "float32 or float64"], opt.step, np.ones(3, dtype=np.int64), np.ones(3), 0.1)
raises(TypeError, ["grads", "dtype"], opt.step, np.ones(3), np.ones(3, dtype=np.float32), 0.1)
raises(ValueError, ["grads", "shape"], opt.step, np.ones(3), np.ones(4), 0.1)
raises(TypeError, ["params", "numpy array"], opt.step, "w", np.ones(2), 0.1)
raises(batchlab.ConfigError, ["momentum"], batchlab.optimizers.make, "momentum", momentum=1.5)
raises(TypeError, ["lr"], batchlab.nqm_steps_to_target, ["a", "b"], [4, 8])
raises(ValueError, ["batch_size"], batchlab.nqm_steps_to_target, [0.1, 0.2], [4.5, 8])
raises(ValueError, ["lr", "batch_size", "broadcast"], batchlab.nqm_expected_loss, [0.1, 0.2], [4, 8, 16], 10)

# ---- Ctrl-C stops a sweep resumably ----
big = fresh("interrupt")
over = {"output.dir": "out", "landscape.dim": 4000, "study.threads": 1, "study.lr_grid": "log:0.003:3:40"}
os.chdir(big)
seen = []


def interrupt(done, total):
    seen.append(done)
    if len(seen) == 1:
        os.kill(os.getpid(), signal.SIGINT)


try:
    batchlab.sweep(CI_SMALL, plot=False, progress=interrupt, **over)
    check(False, "Ctrl-C raises KeyboardInterrupt")
except KeyboardInterrupt:
    rows = len((big / "out/trials.csv").read_text().splitlines()) - 1
    check(0 < rows < 400 and not (big / "out/summary.json").exists(), f"Ctrl-C: {rows} of 400 trials kept, no summary")
resumed = batchlab.sweep(CI_SMALL, plot=False, **over)
os.chdir(SCRATCH)
ref = fresh("interrupt_cli")
r = cli(["sweep", CI_SMALL, "--no-plot"] + [f"--{k}={v}" for k, v in over.items()], cwd=ref)
fa, fb = files_of(ref / "out"), files_of(big / "out")
fa.pop("summary.json"), fb.pop("summary.json")  # provenance.resumed_at_trial differs, rightly
check(fa == fb and len(resumed.trials) == 400, "the resumed sweep's files = an uninterrupted CLI run's")

# ---- python3 -m batchlab is the CLI ----
m = fresh("main")
env = dict(os.environ, BATCHLAB_EXE=BIN)
r = subprocess.run([sys.executable, "-m", "batchlab", "sweep", CI_SMALL, "--output.dir=out", "--no-plot"], cwd=m,
                   env=env, capture_output=True, text=True)
check(r.returncode == 0 and files_of(m / "out")["steps_vs_batch.csv"] == files_of(a / "out")["steps_vs_batch.csv"],
      "python3 -m batchlab sweep = the CLI")
r2 = subprocess.run([sys.executable, "-m", "batchlab", "sweep", CI_SMALL, "--study.target=-1"], cwd=m, env=env,
                    capture_output=True, text=True)
check(r2.returncode == 2 and r2.stderr.startswith("batchlab sweep: ") and "study.target" in r2.stderr,
      "python3 -m batchlab: a bad config is the CLI's line and exit status 2")

# ---- no LibTorch ----
maps = Path("/proc/self/maps").read_text()
check("libtorch" not in maps and "libc10" not in maps, "no libtorch / libc10 in /proc/self/maps")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
