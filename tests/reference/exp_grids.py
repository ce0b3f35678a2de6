"""Reference values for tests/experiments/test_grid.cpp: numpy's logspace / linspace on the
values the grid notations name (log:LO:HI:N = logspace(log10 LO, log10 HI, N)).
Run: python3 tests/reference/exp_grids.py  (output pasted into the test)."""
import numpy as np

cases = {
    "log:1e-3:10:9": np.logspace(np.log10(1e-3), np.log10(10), 9),
    "log:0.01:4:7": np.logspace(np.log10(0.01), np.log10(4), 7),
    "lin:0.1:0.9:5": np.linspace(0.1, 0.9, 5),
    "lin:0:1:4": np.linspace(0, 1, 4),
}
for name, v in cases.items():
    print(name, ", ".join(repr(float(x)) for x in v))
