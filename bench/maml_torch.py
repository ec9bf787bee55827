"""The same MAML sinusoid problem in PyTorch with `torch.func`, for comparison.

The network is an `nn.Sequential` 1-40-40-1 ReLU MLP called functionally with
`torch.func.functional_call`; the inner step is `torch.func.grad` of the support MSE; the
meta-gradient is `torch.func.grad` of the query MSE after that step (so the inner gradient
is differentiated: second order, like `create_graph=True`); `torch.func.vmap` maps over the
tasks. Sampling and a functional Adam (same formula and defaults as `optax.adam`) run on
the device inside the step, so that `torch.compile` can compile the whole step.
"""
import math

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from maml_jax import ALPHA, K, META_BATCH_SIZE, META_LR, SIZES


def make_model():
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


MODEL = make_model()


def params_from_jax(jax_params):
    """The book's list of {"w": (n_in, n_out), "b"} as a dict for `functional_call`
    (nn.Linear stores weight as (n_out, n_in))."""
    import numpy as np
    out = {}
    for i, layer in enumerate(jax_params):
        out[f"{2 * i}.weight"] = torch.tensor(np.asarray(layer["w"]).T.copy())
        out[f"{2 * i}.bias"] = torch.tensor(np.asarray(layer["b"]).copy())
    return out


def grads_to_jax_layout(grads):
    """Inverse of `params_from_jax`, as NumPy arrays (for comparing gradients)."""
    n_layers = len(SIZES) - 1
    return [{"w": grads[f"{2 * i}.weight"].detach().numpy().T, "b": grads[f"{2 * i}.bias"].detach().numpy()}
            for i in range(n_layers)]


def mse(params, x, y):
    return torch.mean((functional_call(MODEL, params, (x,)) - y) ** 2)


def maml_loss(params, x_s, y_s, x_q, y_q, alpha=ALPHA):
    grads = grad(mse)(params, x_s, y_s)
    adapted = {name: p - alpha * grads[name] for name, p in params.items()}
    return mse(adapted, x_q, y_q)


def batch_maml_loss(params, x_s, y_s, x_q, y_q):
    return vmap(maml_loss, in_dims=(None, 0, 0, 0, 0))(params, x_s, y_s, x_q, y_q).mean()


meta_grad = grad(batch_maml_loss)


def sample_batch(generator, meta_batch_size=META_BATCH_SIZE, K=K):
    u = lambda *shape: torch.rand(*shape, generator=generator)
    amp = 0.1 + 4.9 * u(meta_batch_size, 1, 1)
    phase = math.pi * u(meta_batch_size, 1, 1)
    x_s = -5.0 + 10.0 * u(meta_batch_size, K, 1)
    x_q = -5.0 + 10.0 * u(meta_batch_size, K, 1)
    return x_s, amp * torch.sin(x_s - phase), x_q, amp * torch.sin(x_q - phase)


def adam_init(params):
    zeros = {k: torch.zeros_like(v) for k, v in params.items()}
    return {"count": torch.zeros(()), "mu": zeros, "nu": {k: v.clone() for k, v in zeros.items()}}


def adam_update(params, grads, state, lr=META_LR, b1=0.9, b2=0.999, eps=1e-8):
    count = state["count"] + 1
    mu = {k: b1 * state["mu"][k] + (1 - b1) * g for k, g in grads.items()}
    nu = {k: b2 * state["nu"][k] + (1 - b2) * g * g for k, g in grads.items()}
    new = {k: p - lr * (mu[k] / (1 - b1 ** count)) / (torch.sqrt(nu[k] / (1 - b2 ** count)) + eps)
           for k, p in params.items()}
    return new, {"count": count, "mu": mu, "nu": nu}


def train_step(params, state, x_s, y_s, x_q, y_q):
    grads = meta_grad(params, x_s, y_s, x_q, y_q)
    return adam_update(params, grads, state)
