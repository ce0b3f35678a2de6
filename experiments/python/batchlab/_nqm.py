"""The analytic noisy quadratic model (sim/nqm.h) over NumPy arrays of lr and batch size."""
import numpy as np

from . import _batchlab

# The analytic NQM's settings, named as in a sweep config ([landscape], [optimizer], [study]);
# the defaults are a sweep's.
_DEFAULTS = dict(optimizer="sgd", momentum=0.0, precond_power=0.5, ema_decay=0.0, dim=10000,
                 curvature_power=1.0, noise_power=1.0, init_variance=1.0, target=0.01, max_steps=100000)


def _real(name, value):
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real numbers, got dtype {a.dtype}")
    return a


def _whole(name, value):
    a = _real(name, value)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a) & (a == np.round(a))):
        raise ValueError(f"{name}: expected whole numbers")
    return a.astype(np.int64)


def _grid(func, named, settings):
    unknown = set(settings) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"{func}(): unexpected keyword argument '{sorted(unknown)[0]}' "
                        f"(settings: {', '.join(_DEFAULTS)})")
    try:
        arrays = np.broadcast_arrays(*named.values())
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in named.items())
        raise ValueError(f"{func}(): the shapes of {shapes} do not broadcast") from None
    flat = [np.ascontiguousarray(a.ravel()) for a in arrays]
    return arrays[0].shape, flat, dict(_DEFAULTS, **settings)


def nqm_steps_to_target(lr, batch_size, **settings):
    """Steps to reach E[L] < target: exactly what a sweep's analytic trial reports (-1 when not
    reached within max_steps or diverged), for every (lr, batch_size) after NumPy broadcasting.
    settings: optimizer (sgd | momentum | precond | ema), momentum, precond_power, ema_decay,
    dim, curvature_power, noise_power, init_variance, target, max_steps."""
    named = {"lr": _real("lr", lr).astype(np.float64), "batch_size": _whole("batch_size", batch_size)}
    shape, (l, b), s = _grid("nqm_steps_to_target", named, settings)
    return _batchlab.nqm_steps_to_target(l, b, s).reshape(shape)


def nqm_expected_loss(lr, batch_size, steps, **settings):
    """E[L(steps)] of the analytic NQM after `steps` updates at a constant lr (the closed form
    where there is one, else the exact recursion), broadcast over lr, batch_size and steps.
    settings as nqm_steps_to_target (target and max_steps are not used)."""
    named = {"lr": _real("lr", lr).astype(np.float64), "batch_size": _whole("batch_size", batch_size),
             "steps": _whole("steps", steps)}
    shape, (l, b, t), s = _grid("nqm_expected_loss", named, settings)
    return _batchlab.nqm_expected_loss(l, b, t, s).reshape(shape)
