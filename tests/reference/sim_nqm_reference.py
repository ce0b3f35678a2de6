#!/usr/bin/env python3
"""Independent reference for the analytic NQM (tests/sim/test_nqm_reference.cpp embeds its output).

Instead of the hand-derived moment recursion of sim/nqm.h, this propagates the full covariance of
the linear system per dimension: state z = (theta, v, theta~) with the PyTorch heavy-ball update
v' = b v + P g, theta' = theta - lr v', theta~' = g theta~ + (1 - g) theta', g = h theta + eps,
so z' = M z + n eps with M, n read off those equations and Cov(z') = M Cov(z) M^T + n n^T c/B.
E[L(t)] = 1/2 sum_i h_i Cov(z_t)[k, k] (k = 0 for the iterate, 2 for the EMA). Steps-to-target
by exhaustive scan. Run: python3 tests/reference/sim_nqm_reference.py
"""
import numpy as np


def expected_losses(d, lr, batch, beta=0.0, gamma=None, p=0.0, steps=1000, s0=1.0):
    i = np.arange(1, d + 1, dtype=np.float64)
    h, c = 1.0 / i, 1.0 / i
    pre = h ** -p
    ema = gamma is not None
    g = gamma if ema else 0.0
    covs = []
    for hi, ci, Pi in zip(h, c, pre):
        # theta' = theta - lr (b v + P h theta + P eps) ; v' = b v + P h theta + P eps
        M = np.array([
            [1 - lr * Pi * hi, -lr * beta, 0.0],
            [Pi * hi, beta, 0.0],
            [(1 - g) * (1 - lr * Pi * hi), -(1 - g) * lr * beta, g],
        ])
        n = np.array([-lr * Pi, Pi, -(1 - g) * lr * Pi])
        covs.append((M, n, ci / batch))
    out = np.zeros(steps + 1)
    S = [np.diag([s0, 0.0, s0]) for _ in range(d)]
    for i_, (M, n, q) in enumerate(covs):
        S[i_][0, 2] = S[i_][2, 0] = s0  # theta~_0 = theta_0
    k = 2 if ema else 0
    for t in range(steps + 1):
        out[t] = 0.5 * sum(h[j] * S[j][k, k] for j in range(d))
        S = [M @ Sj @ M.T + q * np.outer(n, n) for Sj, (M, n, q) in zip(S, covs)]
    return out


CASES = {
    "momentum": dict(d=5, lr=0.5, batch=8, beta=0.9),
    "precond_momentum": dict(d=5, lr=0.2, batch=16, beta=0.7, p=0.5),
    "sgd_ema": dict(d=5, lr=1.0, batch=2, gamma=0.9),
    "momentum_ema": dict(d=5, lr=0.3, batch=4, beta=0.5, gamma=0.8),
}
TIMES = [1, 10, 100, 1000]
TARGETS = [0.5, 0.2, 0.12]

if __name__ == "__main__":
    for name, kw in CASES.items():
        L = expected_losses(**kw)
        vals = ", ".join(f"{L[t]:.17g}" for t in TIMES)
        first = []
        for tgt in TARGETS:
            idx = np.nonzero(L < tgt)[0]
            first.append(int(idx[0]) if idx.size else -1)
        print(f'{{"{name}", {{{vals}}}, {{{", ".join(map(str, first))}}}}},')
