#!/usr/bin/env python3
"""Vectorized numpy peer of bench_sim_nqm_grid: the analytic NQM grid, same answers.

Noisy quadratic model (Zhang et al. 2019), d = 1e4, h_i = 1/i, c_i = h_i, E theta_0^2 = 1,
target 0.01; sgd and precond (P = H^-0.5); B = 2^2, 2^4, ..., 2^20; 160 lrs log-spaced in
[1e-4, 10^0.5]; max_steps 1e7. For each (optimizer, B) the whole (lr x d) array is processed at
once: E[L(t)] = L* + sum_i w_i rho_i^t with rho_i = (1 - k_i)^2, w_i = h_i/2 (s0 - s*_i),
s*_i = sigma_i^2 / (k_i (2 - k_i)); the smallest t with E[L(t)] < target is found by a bisection
on t vectorized over the lrs (E[L] is non-increasing when every w_i >= 0; rows with a negative
w_i are reported, and settled by the lower bound L* + sum_{w<0} w_i when it is above the target).

  python3 experiments/bench/nqm_numpy.py [--repeat R] [--out FILE.csv] [--compare BATCHLAB.csv]

Benchmark note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow numpy on this machine; unset them in
the benchmark command only (no BLAS call is made here, the kernels are numpy's own ufuncs).
"""
import argparse
import csv
import sys
import time

import numpy as np

D = 10000
TARGET = 0.01
MAX_STEPS = 10_000_000
N_LR = 160
BATCHES = [2 ** e for e in range(2, 21, 2)]
OPTIMIZERS = ["sgd", "precond"]


def lr_grid(n):
    return 10.0 ** (-4.0 + 4.5 * np.arange(n) / (n - 1))


def solve(opt, batch, lrs, h, c, s0=1.0):
    """Returns (status list, steps array) for every lr at this (optimizer, batch)."""
    pre = h ** -0.5 if opt == "precond" else np.ones_like(h)
    k = lrs[:, None] * (pre * h)[None, :]
    stable = np.all((k > 0) & (k < 2), axis=1)
    n = len(lrs)
    status = np.array(["diverged"] * n, dtype=object)
    steps = np.full(n, -1, dtype=np.int64)
    idx = np.nonzero(stable)[0]
    if idx.size == 0:
        return status, steps, 0
    k = k[idx]
    rho = (1.0 - k) ** 2
    sigma2 = (lrs[idx, None] ** 2 / batch) * (pre ** 2 * c)[None, :]
    sstar = sigma2 / (k * (2.0 - k))
    lstar = (0.5 * h * sstar).sum(axis=1)
    w = 0.5 * h * (s0 - sstar)
    nonmono = np.any(w < 0, axis=1)
    lower = lstar + np.where(w < 0, w, 0.0).sum(axis=1)

    def loss(rows, t):
        return lstar[rows] + (w[rows] * np.power(rho[rows], t[:, None])).sum(axis=1)

    all_rows = np.arange(idx.size)
    st = np.array(["not_reached"] * idx.size, dtype=object)
    out = np.full(idx.size, -1, dtype=np.int64)
    l0 = loss(all_rows, np.zeros(idx.size))
    at0 = l0 < TARGET
    out[at0] = 0
    st[at0] = "reached"
    never = ~at0 & ((~nonmono & (lstar >= TARGET)) | (nonmono & (lower >= TARGET)))
    rows = np.nonzero(~at0 & ~never)[0]
    unsettled = int(np.count_nonzero(nonmono[rows]))
    if rows.size:
        lend = loss(rows, np.full(rows.size, MAX_STEPS, dtype=np.float64))
        rows = rows[lend < TARGET]
    lo = np.zeros(rows.size, dtype=np.int64)
    hi = np.full(rows.size, MAX_STEPS, dtype=np.int64)
    while rows.size and np.any(hi - lo > 1):
        act = np.nonzero(hi - lo > 1)[0]
        mid = (lo[act] + hi[act]) // 2
        below = loss(rows[act], mid.astype(np.float64)) < TARGET
        hi[act[below]] = mid[below]
        lo[act[~below]] = mid[~below]
    out[rows] = hi
    st[rows] = "reached"
    status[idx] = st
    steps[idx] = out
    return status, steps, unsettled


def run_grid():
    i = np.arange(1, D + 1, dtype=np.float64)
    h = 1.0 / i
    c = h.copy()
    lrs = lr_grid(N_LR)
    rows, unsettled = [], 0
    for opt in OPTIMIZERS:
        for b in BATCHES:
            status, steps, u = solve(opt, b, lrs, h, c)
            unsettled += u
            for j in range(N_LR):
                rows.append((opt, b, j, status[j], int(steps[j])))
    return rows, unsettled


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--compare")
    a = ap.parse_args()
    times, cpu = [], []
    rows = None
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        rows, unsettled = run_grid()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print("argv:", " ".join(sys.argv), "| numpy", np.__version__)
    print(f"trials {len(rows)}: wall best {min(times):.3f} s, median {sorted(times)[len(times) // 2]:.3f} s, "
          f"process CPU best {min(cpu):.3f} s; "
          f"non-monotone rows needing the bisection anyway: {unsettled}")
    for opt in OPTIMIZERS:
        for b in BATCHES:
            best = [(r[4], r[2]) for r in rows if r[0] == opt and r[1] == b and r[3] == "reached"]
            s, j = min(best) if best else (-1, -1)
            print(f"{opt:8s} B={b:8d} best lr {lr_grid(N_LR)[j] if j >= 0 else 0:.5g} steps {s}")
    if a.out:
        with open(a.out, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["optimizer", "batch_size", "lr_index", "status", "steps_to_target"])
            wr.writerows(rows)
    if a.compare:
        with open(a.compare) as f:
            theirs = {(r["optimizer"], int(r["batch_size"]), int(r["lr_index"])):
                      (r["status"], int(r["steps_to_target"])) for r in csv.DictReader(f)}
        diff = [r for r in rows if theirs.get((r[0], r[1], r[2])) != (r[3], r[4])]
        print(f"compared {len(rows)} trials with {a.compare}: {len(diff)} differ")
        for r in diff[:10]:
            print("  numpy", r, "batchlab", theirs.get((r[0], r[1], r[2])))
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
