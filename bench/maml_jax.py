"""The MAML sinusoid problem in JAX, written several ways for `maml_speed.py`.

* The book's way (chapters 2-4): `init_mlp`, `mlp`, `mse`, the task sampler
  (`sample_task`, `sample_points`, `sample_support_query`, `sample_meta_batch`),
  `inner_update`, `maml_loss`, `batch_maml_loss`, `make_batch_maml_objective`,
  `sample_meta_batches` and `make_train_chunk` exactly as the book defines them: `jax.vmap` over the tasks of a
  meta-batch, the meta-batches of all the steps of a chunk sampled on the device at once,
  then a `jax.lax.scan` over them, all inside one `jax.jit` that donates the parameters
  and optimiser state it is given (they are deleted: pass a copy to run again from them).
* The same loop sampling each step's meta-batch inside the step (`make_train_per_step`).
* The classic way: a Python loop that samples each meta-batch with NumPy on the host and
  calls one jitted step per iteration (`make_step_classic`, `sample_batch_numpy`).
* A faster meta-loss (`loss_fast`, as `fast_objective` for `make_train_chunk`) that
  computes the same meta-gradient (checked by `check_torch_grad.py`) with fewer and
  better-shaped operations.

The problem is the sinusoid regression of Finn et al. (2017): tasks y = A sin(x - phi),
A ~ U[0.1, 5], phi ~ U[0, pi], x ~ U[-5, 5]; a 1-40-40-1 ReLU network; K = 10 support
and 10 query points per task; one inner SGD step with alpha = 0.01 (second order);
meta-batch of 25 tasks; Adam with learning rate 1e-3.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

SIZES = [1, 40, 40, 1]
META_BATCH_SIZE = 25
K = 10
ALPHA = 0.01
META_LR = 1e-3
alpha = ALPHA                               # the name chapter 4's code uses
meta_optimizer = optax.adam(META_LR)        # what chapter 4's `meta_train` passes


# --- The book's code, copied from chapter 4 (its recaps of chapters 2 and 3 included) ---

def init_mlp(key, sizes):
    """He-initialised MLP: a list of {"w": (n_in, n_out), "b": (n_out,)} dicts."""
    params = []
    keys = jax.random.split(key, len(sizes) - 1)
    for layer_key, n_in, n_out in zip(keys, sizes[:-1], sizes[1:]):
        w = jax.random.normal(layer_key, (n_in, n_out)) * jnp.sqrt(2.0 / n_in)
        params.append({"w": w, "b": jnp.zeros(n_out)})
    return params


def mlp(params, x):
    """The network f_theta: x of shape (..., n_in) -> output of shape (..., n_out)."""
    n_in = params[0]["w"].shape[0]
    if x.ndim == 0 or x.shape[-1] != n_in:
        raise ValueError(
            f"mlp expects x of shape (n_in,) or (N, n_in) with n_in = {n_in}, "
            f"got shape {tuple(x.shape)}; for a batch of N numbers use "
            f"x.reshape(-1, {n_in})"
        )
    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["w"] + layer["b"])
    return h @ params[-1]["w"] + params[-1]["b"]


def mse(params, x, y):
    """Mean squared error of the network on inputs x (N, 1) and targets y (N, 1)."""
    return jnp.mean((mlp(params, x) - y) ** 2)


AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


def sine_task(x, amplitude, phase):
    """The task's target function y = A sin(x - phi)."""
    return amplitude * jnp.sin(x - phase)


def check_range(name, value_range):
    low, high = value_range
    if not low < high:
        raise ValueError(f"{name} must be (low, high), low < high; got {value_range}")


def sample_task(key, amplitude_range=AMPLITUDE_RANGE, phase_range=PHASE_RANGE):
    """One task of the sinusoid family: its amplitude A and phase phi (scalars)."""
    check_range("amplitude_range", amplitude_range)
    check_range("phase_range", phase_range)
    amplitude_key, phase_key = jax.random.split(key)
    amplitude = jax.random.uniform(amplitude_key, minval=amplitude_range[0],
                                   maxval=amplitude_range[1])
    phase = jax.random.uniform(phase_key, minval=phase_range[0], maxval=phase_range[1])
    return amplitude, phase


def sample_points(key, amplitude, phase, K, x_range=X_RANGE):
    """K points (x, y) of the task y = A sin(x - phi), as two arrays of shape (K, 1)."""
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive int (points per set), got {K!r}")
    check_range("x_range", x_range)
    x = jax.random.uniform(key, (K, 1), minval=x_range[0], maxval=x_range[1])
    return x, sine_task(x, amplitude, phase)


def sample_support_query(key, K):
    """A task (A, phi) and its support and query sets, each a pair of (K, 1) arrays."""
    task_key, support_key, query_key = jax.random.split(key, 3)
    amplitude, phase = sample_task(task_key)
    support = sample_points(support_key, amplitude, phase, K)
    query = sample_points(query_key, amplitude, phase, K)
    return (amplitude, phase), support, query


def inner_update(params, x_support, y_support, alpha, loss=mse):
    """One SGD step on the support set: theta' = theta - alpha grad L_support(theta)."""
    grads = jax.grad(loss)(params, x_support, y_support)
    return jax.tree.map(lambda p, g: p - alpha * g, params, grads)


def maml_loss(params, support, query, alpha, loss=mse):
    """Query loss after one inner step on the support; support and query are (x, y)."""
    adapted = inner_update(params, *support, alpha, loss)
    return loss(adapted, *query)


def batch_maml_loss(params, support, query, alpha):
    """Mean MAML loss over a meta-batch; support and query are (x, y), each of shape
    (tasks, K, 1)."""
    task_losses = jax.vmap(maml_loss, in_axes=(None, 0, 0, None))(
        params, support, query, alpha)   # (tasks,)
    return task_losses.mean()


def sample_meta_batch(key, meta_batch_size, K):
    """meta_batch_size tasks: (amplitudes, phases), each of shape (tasks,), then
    support (x, y) and query (x, y), each array of shape (tasks, K, 1)."""
    if not isinstance(meta_batch_size, int) or meta_batch_size < 1:
        raise ValueError("meta_batch_size must be a positive int, "
                         f"got {meta_batch_size!r}")
    task_keys = jax.random.split(key, meta_batch_size)
    return jax.vmap(lambda task_key: sample_support_query(task_key, K))(task_keys)


def make_batch_maml_objective(alpha):
    """The meta-training loss of a meta-batch ((amplitudes, phases), support, query),
    for the inner step size alpha given here."""

    def objective(params, meta_batch):
        _, support, query = meta_batch
        return batch_maml_loss(params, support, query, alpha)

    return objective


maml_objective = make_batch_maml_objective(alpha)


def sample_meta_batches(step_keys, meta_batch_size, K):
    """The meta-batches of several steps, one per key in step_keys: the arrays of
    sample_meta_batch with a leading step axis, e.g. x of shape (steps, tasks, K, 1)."""
    sample = lambda step_key: sample_meta_batch(step_key, meta_batch_size, K)
    return jax.vmap(sample)(step_keys)


def make_train_chunk(objective, optimizer, meta_batch_size, K):
    """A jitted function running one step of `optimizer` on `objective` per key in
    step_keys. It donates its params and opt_state: the arrays passed in are deleted."""

    def meta_step(carry, meta_batch):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(objective)(params, meta_batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    def train_chunk(params, opt_state, step_keys):
        meta_batches = sample_meta_batches(step_keys, meta_batch_size, K)
        (params, opt_state), losses = jax.lax.scan(meta_step, (params, opt_state),
                                                   meta_batches)
        return params, opt_state, losses

    return jax.jit(train_chunk, donate_argnums=(0, 1))


# --- Variants of the book's loop ---------------------------------------------------------

def make_meta_step(objective, optimizer):
    """The meta-step of `make_train_chunk`, on its own."""
    def meta_step(carry, meta_batch):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(objective)(params, meta_batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss
    return meta_step


def make_train_per_step(objective, optimizer, meta_batch_size, K):
    """`make_train_chunk` with each step sampling its own meta-batch from its key inside the
    scan, as chapter 4 first wrote it (same keys, same tasks, same trajectory). Donates
    its params and opt_state, as `make_train_chunk` does."""
    meta_step = make_meta_step(objective, optimizer)

    def step(carry, step_key):
        return meta_step(carry, sample_meta_batch(step_key, meta_batch_size, K))

    def train_chunk(params, opt_state, step_keys):
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), step_keys)
        return params, opt_state, losses

    return jax.jit(train_chunk, donate_argnums=(0, 1))


# --- The classic loop: NumPy sampling on the host, one jitted step per iteration --------

def sample_batch_numpy(rng, meta_batch_size=META_BATCH_SIZE, K=K):
    """Same distribution as `sample_meta_batch`, drawn with a NumPy Generator on the host;
    returns support (x, y) and query (x, y), each (tasks, K, 1)."""
    amp = rng.uniform(0.1, 5.0, size=(meta_batch_size, 1, 1))
    phase = rng.uniform(0.0, np.pi, size=(meta_batch_size, 1, 1))
    xs = rng.uniform(-5.0, 5.0, size=(meta_batch_size, K, 1))
    xq = rng.uniform(-5.0, 5.0, size=(meta_batch_size, K, 1))
    f32 = lambda a: a.astype(np.float32)
    return (f32(xs), f32(amp * np.sin(xs - phase))), (f32(xq), f32(amp * np.sin(xq - phase)))


def make_step_classic(objective, optimizer):
    """One jitted meta-step on a meta-batch sampled on the host (no donation)."""
    meta_step = make_meta_step(objective, optimizer)

    @jax.jit
    def step(params, opt_state, support, query):
        return meta_step((params, opt_state), (None, support, query))
    return step


# --- The faster meta-loss ----------------------------------------------------------------
# Same function of the parameters as `batch_maml_loss`; it differs only in how the work is
# laid out for XLA's CPU backend:
#
# 1. The inner (support) gradient is written out by hand for the 1-40-40-1 ReLU MLP, for all
#    tasks at once. Its derivative (the second-order part of MAML) is still taken by
#    `jax.grad`.
# 2. The 40 x 40 middle layer's adapted weights W' = W - alpha * a^T d (a: the layer's
#    support inputs, d: the gradient at its outputs) are never formed. A query batch h goes
#    through the adapted layer as  h W' = h W - alpha (h a^T) d,  with (h a^T) a 10 x 10
#    matrix per task, and every product with a 40 x 40 matrix uses the shared W, as one
#    (250, 40) @ (40, 40) product. The book's version builds 25 separate 40 x 40 matrices,
#    then multiplies by them.
# 3. The first and last layers have one input and one output, so their adapted weights are
#    small (1 x 40 and 40 x 1 per task) and are formed: that is fewer multiplications than
#    going through (h a^T) (10 x 10 per task).
# 4. Each product's backward pass is given explicitly (`jax.custom_vjp`) so that almost
#    every matrix product XLA sees contracts the last axis of its left operand. XLA:CPU
#    sends those to its fast small-matrix kernels (YNNPACK); products whose left operand is
#    contracted on another axis, which autodiff produces for the gradients of weights,
#    fall back to a generic path that is 2-4x slower at these sizes. Products with a
#    contraction of length 1 are broadcast multiplications instead.

def _t(a):
    """Transpose of the last two axes, materialised: the barrier stops XLA from folding the
    transpose back into the next matrix product."""
    return jax.lax.optimization_barrier(jnp.swapaxes(a, -1, -2))


def _shared_weight_grad(a, g):
    """Sum over all rows of a^T g: the gradient of a weight shared by all tasks.
    a: (..., k), g: (..., n) -> (k, n)."""
    a2, g2 = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
    if a2.shape[1] == 1:                       # (1, M) @ (M, n): a reshape, no transpose
        return a2.reshape(1, -1) @ g2
    if g2.shape[1] == 1:                       # a^T g = (g^T a)^T, both vectors
        return (g2.reshape(1, -1) @ a2).reshape(-1, 1)
    return _t(a2) @ g2


@jax.custom_vjp
def matmul(a, b):
    """a @ b for a: (..., m, k) and b: (k, n) shared by all rows, or (..., k, n) per task."""
    return a @ b


def _matmul_fwd(a, b):
    return a @ b, (a, b)


def _matmul_bwd(res, g):
    a, b = res
    db = _shared_weight_grad(a, g) if b.ndim == 2 else _t(a) @ g
    return g @ _t(b), db


matmul.defvjp(_matmul_fwd, _matmul_bwd)


@jax.custom_vjp
def matmul_nt(a, b):
    """a @ b^T for a: (..., m, k) and b: (n, k) shared, or (..., n, k) per task."""
    return a @ jnp.swapaxes(b, -1, -2)


def _matmul_nt_fwd(a, b):
    return matmul_nt(a, b), (a, b)


def _matmul_nt_bwd(res, g):
    a, b = res
    db = _shared_weight_grad(g, a) if b.ndim == 2 else _t(g) @ a
    return g @ b, db


matmul_nt.defvjp(_matmul_nt_fwd, _matmul_nt_bwd)


@jax.custom_vjp
def outer(x, w):
    """x @ w for x: (..., m, 1) and w: (1, n) shared, as a broadcast multiplication."""
    return x * w[0]


def _outer_fwd(x, w):
    return x * w[0], (x, w)


def _outer_bwd(res, g):
    x, w = res
    return g @ w[0][:, None], _shared_weight_grad(x, g)


outer.defvjp(_outer_fwd, _outer_bwd)


def loss_fast(params, support, query, alpha):
    """Equal to `batch_maml_loss` (up to float rounding) for a 1-n-n-1 ReLU MLP with the MSE
    loss. support, query: pairs of (tasks, K, 1) arrays."""
    (x_s, y_s), (x_q, y_q) = support, query
    if len(params) != 3 or params[0]["w"].shape[0] != 1 or params[2]["w"].shape[1] != 1 or x_s.ndim != 3:
        raise ValueError("loss_fast expects a 1-n-n-1 MLP and (tasks, K, 1) support/query arrays")
    K_support = x_s.shape[-2]
    layer1, layer2, layer3 = params
    w1, w3 = layer1["w"], layer3["w"]                          # (1, 40), (40, 1)
    # Support forward pass and the hand-written backward pass of the support MSE.
    z1 = outer(x_s, w1) + layer1["b"]
    h1 = jax.nn.relu(z1)                                       # (tasks, K, 40)
    z2 = matmul(h1, layer2["w"]) + layer2["b"]
    h2 = jax.nn.relu(z2)                                       # (tasks, K, 40)
    out = matmul(h2, w3) + layer3["b"]                         # (tasks, K, 1)
    d3 = 2.0 * (out - y_s) / K_support                         # d(support MSE)/d(out)
    d2 = outer(d3, w3.T) * (z2 > 0)                            # ... /d(z2)
    d1 = matmul_nt(d2, layer2["w"]) * (z1 > 0)                 # ... /d(z1)
    # Query pass through the adapted network.
    # Layer 1: w1' = w1 - alpha x_s^T d1 and b1' = b1 - alpha 1^T d1, per task, from one
    # product [x_s, 1]^T d1 (data only on the left: (tasks, 2, K), built in that layout).
    x_s_t = jnp.swapaxes(x_s, -1, -2)                          # (tasks, 1, K): a reshape
    grad1 = matmul(jnp.concatenate([x_s_t, jnp.ones_like(x_s_t)], axis=-2), d1)   # (tasks, 2, 40)
    h = jax.nn.relu(x_q * (w1 - alpha * grad1[:, :1]) + layer1["b"] - alpha * grad1[:, 1:])
    # Layer 2: h W2' + b2' = h W2 + b2 - alpha (h h1^T + 1) d2, without forming W2'.
    correction = matmul(matmul_nt(h, h1) + 1.0, d2)           # (tasks, K, 40)
    h = jax.nn.relu(matmul(h, layer2["w"]) + layer2["b"] - alpha * correction)
    # Layer 3: w3' = w3 - alpha h2^T d3 and b3' = b3 - alpha 1^T d3, per task.
    w3_adapted = w3 - alpha * jnp.swapaxes(matmul(jnp.swapaxes(d3, -1, -2), h2), -1, -2)  # (tasks, 40, 1)
    b3_adapted = layer3["b"] - alpha * jnp.sum(d3, axis=1, keepdims=True)               # (tasks, 1, 1)
    return jnp.mean((matmul(h, w3_adapted) + b3_adapted - y_q) ** 2)


def make_fast_objective(alpha):
    """`make_batch_maml_objective` computed with `loss_fast`: the same loss and
    meta-gradient."""

    def objective(params, meta_batch):
        _, support, query = meta_batch
        return loss_fast(params, support, query, alpha)

    return objective


fast_objective = make_fast_objective(alpha)
