#!/usr/bin/python3
"""PyTorch (Python) peer of `batchlab train --precondition kfac`: the same K-FAC (realtrain/kfac.h)
written with module hooks, for the step-time benchmark (experiments/bench/precond_step_time.sh).

Same model (torch_peer_train.py's Simple CNN / MLP), data, batch and threads; momentum SGD
(torch.optim.SGD) on the preconditioned gradients. K-FAC as batchlab's: A = E[a~ a~'] of the layer
inputs with a 1 appended (convolutions: im2col patches, summed over positions, KFC), G = E[g g']
of the per-example output derivatives of the training loss (convolutions: mean over positions),
EMA eps_k = min(1 - 1/k, decay), damped inverses (A + sqrt(lambda) I)^-1, (G + sqrt(lambda) I)^-1
by Cholesky in float64 every --precond-every updates, gradient <- G^-1 [dW db] A^-1.

  /usr/bin/python3 experiments/bench/kfac_torch_peer.py --model simple-cnn --batch-size 128 \
      --threads 2 --steps 30 [--no-kfac]
Prints one JSON line: steps, wall_s (training loop), s_per_step.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer_train import MODELS, load  # noqa: E402


class Kfac:
    def __init__(self, model, damping=1e-3, decay=0.95, update_every=10):
        self.layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        self.damping, self.decay, self.update_every = damping, decay, update_every
        self.k = 0
        self.state = {}
        self.scale = 1.0
        for m in self.layers:
            m.register_forward_hook(self._forward)
            m.register_full_backward_hook(self._backward)

    def _forward(self, m, inputs, output):
        if not torch.is_grad_enabled():
            return
        a = inputs[0].detach()
        n = a.shape[0]
        if isinstance(m, nn.Conv2d):
            a = F.unfold(a, m.kernel_size, m.dilation, m.padding, m.stride).transpose(1, 2).reshape(-1, m.weight[0].numel())
        else:
            a = a.reshape(-1, m.in_features)
        if m.bias is not None:
            a = torch.cat([a, a.new_ones(a.shape[0], 1)], 1)
        s = self.state.setdefault(m, {})
        s["a_batch"] = a.t() @ a / n

    def _backward(self, m, grad_input, grad_output):
        g = grad_output[0].detach()
        if isinstance(m, nn.Conv2d):
            g = g.permute(0, 2, 3, 1).reshape(-1, g.shape[1])
        g = g * self.scale
        self.state[m]["g_batch"] = g.t() @ g / g.shape[0]

    def precondition(self, step):
        self.k += 1
        eps = min(1.0 - 1.0 / self.k, self.decay)
        root = self.damping ** 0.5
        for m in self.layers:
            s = self.state[m]
            for f in ("a", "g"):
                b = s.pop(f + "_batch")
                s[f] = b if eps == 0.0 else eps * s[f] + (1 - eps) * b
            if step % self.update_every == 0:
                for f in ("a", "g"):
                    x = s[f].double()
                    c = torch.linalg.cholesky(x + root * torch.eye(x.shape[0], dtype=x.dtype))
                    s[f + "_inv"] = torch.cholesky_inverse(c).to(s[f].dtype)
            gw = m.weight.grad.reshape(m.weight.shape[0], -1)
            mat = torch.cat([gw, m.bias.grad.unsqueeze(1)], 1) if m.bias is not None else gw
            v = s["g_inv"] @ mat @ s["a_inv"]
            d = gw.shape[1]
            m.weight.grad.copy_(v[:, :d].reshape(m.weight.shape))
            if m.bias is not None:
                m.bias.grad.copy_(v[:, d])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--model", choices=["mlp", "simple-cnn"], default="simple-cnn")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--precond-every", type=int, default=10)
    p.add_argument("--damping", type=float, default=1e-3)
    p.add_argument("--no-kfac", action="store_true", help="momentum SGD alone")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load("train", a.data_dir)
    model = MODELS[a.model]()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    kfac = None if a.no_kfac else Kfac(model, a.damping, 0.95, a.precond_every)
    gen = torch.Generator().manual_seed(a.seed)
    perm = torch.randperm(len(xtr), generator=gen)
    wall = 0.0
    for step in range(a.steps):
        t0 = time.perf_counter()
        idx = perm[step * a.batch_size % (len(xtr) - a.batch_size):][:a.batch_size]
        x, y = xtr[idx], ytr[idx]
        opt.zero_grad(set_to_none=False)
        if kfac:
            kfac.scale = float(len(x))
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if kfac:
            kfac.precondition(step)
        opt.step()
        loss.item()
        wall += time.perf_counter() - t0
    print(json.dumps({"steps": a.steps, "wall_s": wall, "s_per_step": wall / a.steps, "kfac": kfac is not None,
                      "model": a.model, "batch_size": a.batch_size, "threads": a.threads, "torch": torch.__version__,
                      "final_loss": loss.item()}))


if __name__ == "__main__":
    main()
