"""Studies: run one through the CLI's own commands, or load one, and read its results."""
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import _batchlab, _paths


def _batchlab_exe():
    """The batchlab executable of this build or install (BATCHLAB_EXE overrides)."""
    return os.environ.get("BATCHLAB_EXE") or _paths.BATCHLAB_EXE


def _value_text(value):
    """An override's value as the command line writes it: lists comma-joined, bools true/false,
    floats in the shortest form that reads back to the same number."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(_value_text(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def command_line(command, config, overrides, plot=True):
    """The `batchlab COMMAND` command line that sweep()/study() run, as a list (argv[0] =
    "batchlab"; provenance records it in summary.json)."""
    argv = ["batchlab", command, os.fspath(config)]
    for key, value in overrides.items():
        if "." not in key:
            raise TypeError(f"{command}(): unexpected keyword argument '{key}' (settings are 'section.key', "
                            f"e.g. **{{'study.seeds': '0,1'}})")
        argv.append(f"--{key}={_value_text(value)}")
    if not plot:
        argv.append("--no-plot")
    return argv


def _text_progress(label):
    """A progress callback that redraws one line on stderr ("sweep: 120/480 trials")."""
    def report(done, total):
        end = "\n" if done >= total else ""
        print(f"\r{label}: {done}/{total} trials", end=end, file=sys.stderr, flush=True)
    return report


def _run(command, config, overrides, progress, plot):
    if progress is True:
        progress = _text_progress(command)
    elif progress is False:
        progress = None
    elif progress is not None and not callable(progress):
        raise TypeError(f"{command}(): progress must be a callable(done, total), True, False or None")
    argv = command_line(command, config, overrides, plot)
    out = _batchlab.run_command(argv, _batchlab_exe(), progress)
    if out["output_dir"] is None:  # --help and friends: nothing ran
        return None
    return Study(out["output_dir"])


def sweep(config, *, progress=None, plot=True, **overrides):
    """Run `batchlab sweep CONFIG --section.key=value ...` and return its Study.

    overrides: settings by their config names, e.g.
        sweep(cfg, **{"study.seeds": "0,1", "output.dir": d})
    plot: False is the CLI's --no-plot. progress: None (the CLI's own display on stderr), True
    (a text line on stderr), or a callable(done, total), called on this thread after trials finish.
    Raises ConfigError (the CLI's one-line message) before any work for a bad config, RuntimeError
    for a failure while working; Ctrl-C raises KeyboardInterrupt after the finished trials are
    committed, and the same call again resumes the study. The GIL is released while it runs."""
    return _run("sweep", config, overrides, progress, plot)


def study(config, *, progress=None, plot=True, **overrides):
    """Run `batchlab study CONFIG --section.key=value ...` (real training: every trial a
    `batchlab train` child of the batchlab executable) and return its Study. Arguments and
    errors as sweep()."""
    return _run("study", config, overrides, progress, plot)


def load(results_dir):
    """The Study in a results directory of `batchlab sweep` or `batchlab study`."""
    return Study(results_dir)


def _flatten(d, prefix=""):
    """summary.json's per-optimizer object as flat columns: nested objects joined with '_',
    a two-number list under a confidence-interval key split into _low / _high, null -> NaN."""
    out = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, name + "_"))
        elif (isinstance(v, list) and len(v) == 2 and "ci" in name.split("_")
              and all(x is None or isinstance(x, (int, float)) for x in v)):
            out[name + "_low"] = math.nan if v[0] is None else v[0]
            out[name + "_high"] = math.nan if v[1] is None else v[1]
        else:
            out[name] = math.nan if v is None else v
    return out


def _fit_rows(optimizer, entry):
    """One row per (optimizer, target). A study with several targets keeps one fit object per
    target under "targets" (a list of objects with "target", or an object keyed by target);
    a single-target study is one row."""
    targets = entry.get("targets") if isinstance(entry, dict) else None
    base = {k: v for k, v in entry.items() if k != "targets"}
    if isinstance(targets, dict):
        targets = [dict(v, target=_number(k)) for k, v in targets.items()]
    if not targets:
        return [dict(optimizer=optimizer, **_flatten(base))]
    return [dict(optimizer=optimizer, **_flatten(dict(base, **t))) for t in targets]


def _number(text):
    try:
        return float(text)
    except ValueError:
        return text


class Study:
    """A results directory (docs/results_schema.md) read as DataFrames."""

    def __init__(self, directory):
        self.dir = Path(directory).resolve()
        if not (self.dir / "config.ini").is_file():
            raise FileNotFoundError(f"{self.dir}: no config.ini (not a batchlab results directory)")

    def __repr__(self):
        return f"batchlab.Study('{self.dir}')"

    def _csv(self, name):
        path = self.dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (an unfinished study has only config.ini and trials.csv)")
        return pd.read_csv(path)

    @property
    def trials(self):
        """trials.csv: one row per trial."""
        return self._csv("trials.csv")

    @property
    def steps_vs_batch(self):
        """steps_vs_batch.csv: the best trial per (optimizer, batch size[, target])."""
        return self._csv("steps_vs_batch.csv")

    @property
    def curves(self):
        """curves.csv (studies with study.record_curves = true)."""
        return self._csv("curves.csv")

    @property
    def summary(self):
        """summary.json as a dict."""
        path = self.dir / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (the study has not finished)")
        return json.loads(path.read_text())

    @property
    def fit(self):
        """The S(B) fit per optimizer (and per target when the study has several): b_crit, s_min,
        e_min, fit_error, knee_batch, ..., and confidence intervals where summary.json has them;
        NaN where the fit did not run (fewer than 2 batch sizes reached)."""
        rows = []
        for optimizer, entry in self.summary["optimizers"].items():
            rows.extend(_fit_rows(optimizer, entry))
        return pd.DataFrame(rows)

    def plot(self):
        """The figures `batchlab plot DIR` draws (plots/*.py, PNG + PDF into the directory);
        returns the PNG paths."""
        if _paths.PLOTS_DIR and "BATCHLAB_PLOTS_DIR" not in os.environ:
            os.environ["BATCHLAB_PLOTS_DIR"] = _paths.PLOTS_DIR
        sys.stdout.flush()
        sys.stderr.flush()
        if _batchlab.plot(str(self.dir)) != 0:
            raise RuntimeError(f"batchlab plot {self.dir} failed (its message is on stderr)")
        return sorted(self.dir.glob("*.png"))


def fit(table):
    """The engine's S(B) = S_min (1 + B_crit / B) fit (experiments/engine/fit.h) of a
    steps-vs-batch table: a DataFrame or a CSV path with columns batch_size and steps_to_target,
    optionally optimizer and target (one fit each) and status (only "reached" rows are fitted).
    Rows with steps_to_target <= 0 are left out, as a study leaves them out. Returns one row per
    group with summary.json's keys (b_crit, s_min, e_min, fit_error, fit_points, fit_bounded,
    knee_batch, knee_batch_measured)."""
    df = table if isinstance(table, pd.DataFrame) else pd.read_csv(os.fspath(table))
    for col in ("batch_size", "steps_to_target"):
        if col not in df.columns:
            raise ValueError(f"fit: table: no column '{col}' (columns: {', '.join(map(str, df.columns))})")
    keys = [c for c in ("optimizer", "target") if c in df.columns]
    groups = df.groupby(keys if len(keys) > 1 else keys[0], sort=False) if keys else [((), df)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        use = g["steps_to_target"] > 0
        if "status" in g.columns:
            use &= g["status"] == "reached"
        result = _batchlab.fit_critical_batch(g.loc[use, "batch_size"].astype(float).tolist(),
                                              g.loc[use, "steps_to_target"].astype(float).tolist())
        rows.append(dict(zip(keys, key), **result))
    return pd.DataFrame(rows)
