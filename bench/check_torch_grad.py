"""Check that the implementations timed by `maml_speed.py` compute the same meta-gradient.

On one set of parameters and one meta-batch (25 tasks, K = 10), compares with the book's
`jax.grad(batch_maml_loss)` (implementation (a)):
  * `loss_fast` (the faster JAX variant (a')),
  * the PyTorch `torch.func` version (c) (skipped, with a message, if torch is not installed).
Also checks that sampling the meta-batches of many steps at once (chapter 4's
`make_train_chunk`) draws exactly the meta-batches that sampling step by step draws, and
notes any function in `maml_jax.py` that no longer matches chapter 4's text.

Tolerance: float32 arithmetic done in a different order gives relative differences of a
few 1e-7 on these values; we allow 1e-5 of the largest entry of each gradient leaf.
Exits with status 1 and names the leaf that differs if a check fails.

    python bench/check_torch_grad.py
"""
import inspect
import os
import sys

import jax
import numpy as np

import maml_jax as mj

RTOL = 1e-5
CHAPTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "book", "04_batched_maml.md")
COPIED = ["init_mlp", "mlp", "mse", "sine_task", "check_range", "sample_task", "sample_points",
          "sample_support_query", "inner_update", "maml_loss", "batch_maml_loss",
          "sample_meta_batch", "make_batch_maml_objective", "sample_meta_batches",
          "make_train_chunk"]


def check_copies():
    """The benchmark's row (a) should time chapter 4's code: say which copies drifted."""
    if not os.path.exists(CHAPTER):
        return
    with open(CHAPTER) as f:
        chapter = f.read()
    stale = [name for name in COPIED if inspect.getsource(getattr(mj, name)) not in chapter]
    if stale:
        print(f"note: {', '.join(stale)} in bench/maml_jax.py no longer match(es) "
              f"book/04_batched_maml.md; copy the chapter's version so that (a) times the book's code")
    else:
        print(f"ok   the book's code in maml_jax.py matches chapter 4 ({len(COPIED)} functions)")


def compare(name, grads, reference):
    worst = 0.0
    for i, (layer, ref_layer) in enumerate(zip(grads, reference)):
        for leaf in ("w", "b"):
            got, want = np.asarray(layer[leaf]), np.asarray(ref_layer[leaf])
            if got.shape != want.shape:
                sys.exit(f"FAIL {name}: layer {i} {leaf} has shape {got.shape}, expected {want.shape}")
            err = np.max(np.abs(got - want)) / np.max(np.abs(want))
            worst = max(worst, err)
            if not err <= RTOL:
                sys.exit(f"FAIL {name}: layer {i} {leaf} differs from the book's meta-gradient "
                         f"by {err:.2e} (relative to its largest entry; allowed {RTOL:.0e})")
    print(f"ok   {name:36s} max relative difference {worst:.1e}")
    return worst


def main():
    key_init, key_batch = jax.random.split(jax.random.key(0))
    params = mj.init_mlp(key_init, mj.SIZES)
    check_copies()
    step_keys = jax.random.split(key_batch, 4)
    bulk = mj.sample_meta_batches(step_keys, mj.META_BATCH_SIZE, mj.K)
    one = mj.sample_meta_batch(step_keys[2], mj.META_BATCH_SIZE, mj.K)
    if not all(np.array_equal(a[2], b) for a, b in zip(jax.tree.leaves(bulk), jax.tree.leaves(one))):
        sys.exit("FAIL sampling in bulk draws other meta-batches than sampling step by step")
    print("ok   sampling in bulk draws the meta-batches that sampling step by step draws")

    _, support, query = one
    reference = jax.jit(jax.grad(mj.batch_maml_loss))(params, support, query, mj.ALPHA)
    print("meta-gradients on one meta-batch, compared with the book's jax.grad(batch_maml_loss):")
    fast = jax.jit(jax.grad(mj.loss_fast))(params, support, query, mj.ALPHA)
    compare("JAX (a'), loss_fast", fast, reference)
    objective = jax.jit(jax.grad(mj.fast_objective))(params, one)
    compare("JAX (a'), fast_objective", objective, reference)

    try:
        import torch
    except ImportError:
        print("skip PyTorch: torch not installed (run `make bench-torch`)")
        return
    import maml_torch as mt
    torch_params = mt.params_from_jax(params)
    batch = [torch.tensor(np.asarray(a)) for a in (*support, *query)]
    grads = mt.meta_grad(torch_params, *batch)
    compare(f"PyTorch (c) {torch.__version__} torch.func", mt.grads_to_jax_layout(grads), reference)


if __name__ == "__main__":
    main()
