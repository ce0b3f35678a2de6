"""batchlab from Python: studies in a notebook, results as DataFrames.

Everything here runs batchlab's own C++ code (the `_batchlab` extension), never a second
implementation:

    sweep(config, **overrides)     `batchlab sweep CONFIG --section.key=value ...`, returns a Study
    study(config, **overrides)     `batchlab study CONFIG ...` (real training; trials are
                                   `batchlab train` child processes)
    load(results_dir)              a Study from a results directory
    Study.trials, .steps_vs_batch  pandas DataFrames of trials.csv / steps_vs_batch.csv
    Study.fit                      the S(B) fit per optimizer (and target) from summary.json
    Study.plot()                   the figures of `batchlab plot DIR`
    fit(dataframe_or_csv)          the engine's S(B) fit of any steps-vs-batch table
    nqm_expected_loss(lr, batch_size, steps, ...), nqm_steps_to_target(lr, batch_size, ...)
                                   the analytic noisy quadratic model over NumPy arrays
    optimizers.make(name, **options).step(params, grads, lr)
                                   an update rule of optim/ on float32/float64 NumPy arrays

Bad input raises ConfigError (a ValueError) with the CLI's one-line message; Ctrl-C stops a
sweep after committing its finished trials, and rerunning the same call resumes it.
`python3 -m batchlab COMMAND ...` is the batchlab CLI itself (see __main__.py).
"""
from ._batchlab import ConfigError
from ._nqm import nqm_expected_loss, nqm_steps_to_target
from ._study import Study, fit, load, study, sweep
from . import optimizers

__all__ = ["ConfigError", "Study", "fit", "load", "nqm_expected_loss", "nqm_steps_to_target",
           "optimizers", "study", "sweep"]
