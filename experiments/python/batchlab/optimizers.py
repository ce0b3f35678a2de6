"""The update rules of optim/ on NumPy arrays, so a notebook can check a rule against its own code.

    opt = batchlab.optimizers.make("lamb:paper", weight_decay=0.01, beta2=0.99)
    opt.step(w, g, lr=0.1)          # w updated in place (float32 or float64, C-contiguous)

Several parameter groups (LARS/LAMB trust ratios are per group):

    opt = make("lars:paper", momentum=0.9, groups=[{"name": "w"},
               {"name": "bias", "exclude_from_weight_decay": True, "exclude_from_adaptation": True}])
    opt.step([w, b], [gw, gb], lr)
    opt.trust_ratios                # per group, of the last step

Options are the fields of optim::OptimizerConfig (the INI's optimizer.* keys): momentum,
dampening, beta1, beta2, eps, weight_decay, trust_coefficient, trust_eps, trust_clip,
lamb_phi_lower, lamb_phi_upper, max_grad_norm, precond_power, lr_in_momentum,
momentum_correction. Group keys: name, lr_mult, weight_decay_mult, exclude_from_weight_decay,
exclude_from_adaptation. "precond" needs each group's curvature first: opt.set_curvature(i, d).
Bad settings raise batchlab.ConfigError; arrays of another dtype or shape raise TypeError /
ValueError naming the argument ("params", "grads[1]").
"""
from ._batchlab import Optimizer, rule_names


def make(name, *, groups=None, **options):
    """An optimizer running rule `name` (names(): sgd, momentum, nesterov, adam, adamw,
    precond, lars:paper|tf|apex, lamb:paper|apex|nobias; lars and lamb mean the paper variants)
    over `groups` (None: one group; an int: that many default groups; or a list of dicts)."""
    return Optimizer(name, options, groups)


def names():
    """Every registered rule name."""
    return list(rule_names())


__all__ = ["Optimizer", "make", "names"]
