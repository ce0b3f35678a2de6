#!/usr/bin/env python3
"""Independent numpy reference for every update rule in optim/ (float64).

Writes tests/optim/rules_reference_data.h, which tests/optim/test_rules_reference.cpp embeds:
    /usr/bin/python3 tests/reference/optim_rules.py > tests/optim/rules_reference_data.h

The problem (the C++ test builds the same one):
  four parameter groups, flattened index j = 0..11:
    "w1"   4 entries, default options
    "bias" 3 entries, excluded from weight decay and from layer-wise adaptation
    "w2"   3 entries, lr_mult 0.5, weight_decay_mult 0 (so wd = 0 but still adapted)
    "zero" 2 entries, starts at w = 0 (zero-norm trust ratio rule)
  gradient at 0-based update t:  g_j = h_j w_j + 0.3 sin(0.9 j + 1.3 t + 0.1),  h_j = 0.5 + 0.25 j
  lr at update t: LRS[t];  precond curvature D_j = h_j.
Each rule is written from its paper / reference code (see optim/*.h headers), not from the C++.
"""
import math
import numpy as np

SIZES = [4, 3, 3, 2]
INIT = [0.5, -1.0, 1.5, 0.2, 0.1, -0.2, 0.3, -0.7, 0.4, 0.9, 0.0, 0.0]
LR_MULT = [1.0, 1.0, 0.5, 1.0]
WD_MULT = [1.0, 0.0, 0.0, 1.0]      # bias excluded, w2 has weight_decay_mult 0
ADAPT = [True, False, True, True]
LRS = [0.1, 0.12, 0.05, 0.2, 0.15, 0.1]
H = 0.5 + 0.25 * np.arange(12)

DEFAULTS = dict(momentum=0.0, dampening=0.0, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                trust_coefficient=1e-3, trust_eps=0.0, trust_clip=False, phi_lower=0.0,
                phi_upper=math.inf, max_grad_norm=0.0, precond_power=0.5,
                lr_in_momentum=False, momentum_correction=False)


def split(x):
    out, k = [], 0
    for n in SIZES:
        out.append(x[k:k + n])
        k += n
    return out


def gradient(w_flat, t):
    j = np.arange(12)
    return H * w_flat + 0.3 * np.sin(0.9 * j + 1.3 * t + 0.1)


def norm(x):
    return math.sqrt(float(np.sum(x * x)))


def run(rule, cfg):
    c = dict(DEFAULTS, **cfg)
    ws = [x.copy() for x in split(np.array(INIT, dtype=np.float64))]
    state = [dict() for _ in SIZES]
    trusts = []
    prev_lr = None
    for t, lr_t in enumerate(LRS):
        g_all = split(gradient(np.concatenate(ws), t))
        scale = 1.0
        if c["max_grad_norm"] > 0:
            total = math.sqrt(sum(float(np.sum(g * g)) for g in g_all))
            if total > c["max_grad_norm"]:
                scale = c["max_grad_norm"] / total
        step = t + 1
        row = []
        for i in range(len(SIZES)):
            w, g, st = ws[i], g_all[i] * scale, state[i]
            lr = lr_t * LR_MULT[i]
            plr = (lr_t if prev_lr is None else prev_lr) * LR_MULT[i]
            wd = c["weight_decay"] * WD_MULT[i]
            trust = 1.0
            m = c["momentum"]
            if rule == "sgd":
                w -= lr * (g + wd * w)
            elif rule == "momentum" and not c["lr_in_momentum"]:
                buf = st.setdefault("v", np.zeros_like(w))
                buf[:] = m * buf + (1 - c["dampening"]) * (g + wd * w)
                w -= lr * buf
            elif rule == "momentum":   # Goyal et al. eq. 9 (+ eq. 10 correction)
                buf = st.setdefault("v", np.zeros_like(w))
                mm = m * lr / plr if c["momentum_correction"] else m
                buf[:] = mm * buf + lr * (g + wd * w)
                w -= buf
            elif rule == "nesterov":   # torch.optim.SGD(nesterov=True)
                d = g + wd * w
                if "v" not in st:
                    st["v"] = d.copy()
                else:
                    st["v"] = m * st["v"] + d
                w -= lr * (d + m * st["v"])
            elif rule in ("adam", "adamw"):
                d = g + wd * w if rule == "adam" else g
                if rule == "adamw":
                    w *= 1 - lr * wd
                st["m"] = c["beta1"] * st.get("m", 0) + (1 - c["beta1"]) * d
                st["v"] = c["beta2"] * st.get("v", 0) + (1 - c["beta2"]) * d * d
                mh = st["m"] / (1 - c["beta1"] ** step)
                vh = st["v"] / (1 - c["beta2"] ** step)
                w -= lr * mh / (np.sqrt(vh) + c["eps"])
            elif rule == "precond":
                P = split(H)[i] ** (-c["precond_power"])
                d = P * (g + wd * w)
                if m == 0:
                    w -= lr * d
                else:
                    st["v"] = m * st.get("v", 0) + d
                    w -= lr * st["v"]
            elif rule.startswith("lars"):
                wn, gn = norm(w), norm(g)
                eps = 0.0 if rule == "lars:paper" else c["trust_eps"]
                if ADAPT[i]:
                    if wn > 0 and gn > 0:
                        trust = c["trust_coefficient"] * wn / (gn + wd * wn + eps)
                    if rule == "lars:apex" and c["trust_clip"]:
                        trust = min(trust / lr, 1.0)
                if rule == "lars:paper":
                    st["v"] = m * st.get("v", 0) + lr * trust * (g + wd * w)
                    w -= st["v"]
                elif rule == "lars:tf":   # training_ops.apply_momentum with scaled lr
                    st["v"] = m * st.get("v", 0) + g
                    w -= lr * trust * st["v"]
                else:                      # LARC / timm: grad <- trust (g + wd w), torch SGD
                    d = trust * (g + wd * w)
                    if m != 0:
                        if "v" not in st:
                            st["v"] = d.copy()
                        else:
                            st["v"] = m * st["v"] + (1 - c["dampening"]) * d
                        d = st["v"]
                    w -= lr * d
            elif rule.startswith("lamb"):
                st["m"] = c["beta1"] * st.get("m", 0) + (1 - c["beta1"]) * g
                st["v"] = c["beta2"] * st.get("v", 0) + (1 - c["beta2"]) * g * g
                if rule == "lamb:nobias":
                    mh, vh = st["m"], st["v"]
                else:
                    mh = st["m"] / (1 - c["beta1"] ** step)
                    vh = st["v"] / (1 - c["beta2"] ** step)
                u = mh / (np.sqrt(vh) + c["eps"]) + wd * w
                wn, un = norm(w), norm(u)
                use = ADAPT[i] and (rule != "lamb:apex" or wd != 0)
                if use and wn > 0 and un > 0:
                    trust = min(max(wn, c["phi_lower"]), c["phi_upper"]) / un
                w -= lr * trust * u
            else:
                raise ValueError(rule)
            row.append(trust)
        trusts.append(row)
        prev_lr = lr_t
    return np.concatenate(ws), trusts


LARS = dict(momentum=0.9, weight_decay=0.05, trust_coefficient=0.1)
LAMB = dict(beta1=0.9, beta2=0.99, eps=1e-6, weight_decay=0.05)
CASES = [
    ("sgd", "sgd", dict(weight_decay=0.05)),
    ("sgd_clipped", "sgd", dict(weight_decay=0.05, max_grad_norm=0.5)),
    ("momentum_torch_dampened", "momentum", dict(momentum=0.9, dampening=0.1, weight_decay=0.05)),
    ("momentum_goyal_corrected", "momentum",
     dict(momentum=0.9, weight_decay=0.05, lr_in_momentum=True, momentum_correction=True)),
    ("momentum_goyal_uncorrected", "momentum",
     dict(momentum=0.9, weight_decay=0.05, lr_in_momentum=True)),
    ("nesterov", "nesterov", dict(momentum=0.9, weight_decay=0.05)),
    ("adam", "adam", dict(beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.05)),
    ("adamw", "adamw", dict(beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.05)),
    ("precond", "precond", dict(precond_power=0.5, weight_decay=0.05)),
    ("precond_momentum", "precond", dict(precond_power=1.0, momentum=0.9, weight_decay=0.05)),
    ("lars:paper", "lars:paper", LARS),
    ("lars:tf", "lars:tf", LARS),
    ("lars:apex", "lars:apex", LARS),
    ("lars:apex_clip_eps_damp", "lars:apex",
     dict(LARS, trust_eps=1e-3, trust_clip=True, dampening=0.1, trust_coefficient=0.15)),
    ("lars:apex_no_momentum", "lars:apex", dict(LARS, momentum=0.0)),
    ("lamb:paper", "lamb:paper", LAMB),
    ("lamb:apex", "lamb:apex", LAMB),
    ("lamb:nobias", "lamb:nobias", LAMB),
    ("lamb:apex_clipped", "lamb:apex", dict(LAMB, max_grad_norm=1.0)),
    ("lamb:paper_phi", "lamb:paper", dict(LAMB, phi_lower=0.5, phi_upper=1.2)),
]


def cnum(x):
    if x == math.inf:
        return "kInf"
    return repr(float(x))


def main():
    print("// Generated by tests/reference/optim_rules.py (numpy " + np.__version__ + "); do not edit.")
    print("// Regenerate: /usr/bin/python3 tests/reference/optim_rules.py > tests/optim/rules_reference_data.h")
    print("#pragma once")
    print("#include <limits>")
    print("#include <vector>")
    print("namespace rules_reference {")
    print("constexpr double kInf = std::numeric_limits<double>::infinity();")
    print("struct Case {")
    print("  const char* label; const char* rule;")
    fields = list(DEFAULTS.keys())
    for f in fields:
        print(f"  {'bool' if isinstance(DEFAULTS[f], bool) else 'double'} {f};")
    print("  std::vector<double> final_params;    // all 12 entries after the last update")
    print("  std::vector<double> trust;           // [update][group] ratio returned by step()")
    print("};")
    print(f"constexpr int kSteps = {len(LRS)};")
    print("inline const std::vector<Case>& cases() {")
    print("  static const std::vector<Case> all = {")
    for label, rule, cfg in CASES:
        c = dict(DEFAULTS, **cfg)
        w, tr = run(rule, cfg)
        vals = ", ".join(("true" if c[f] else "false") if isinstance(DEFAULTS[f], bool) else cnum(c[f])
                         for f in fields)
        print(f'    {{"{label}", "{rule}", {vals},')
        print("     {" + ", ".join(cnum(x) for x in w) + "},")
        print("     {" + ", ".join(cnum(x) for row in tr for x in row) + "}},")
    print("  };")
    print("  return all;")
    print("}")
    print("}  // namespace rules_reference")


if __name__ == "__main__":
    main()
