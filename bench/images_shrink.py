"""What chapter 8's shrinking costs: MAML on the characters at settings closer to the paper's.

Chapter 8 meta-trains MAML for 5-way 1-shot with 32 filters, meta-batches of 8 episodes
and 1,000 meta-steps (the paper: 64 filters, 32 episodes, 60,000 steps). This script runs
the chapter's own code (read from book/08_images.md, so it cannot drift from it) and
meta-trains MAML from one of the chapter's three starting heads (--head, default the
zeroing trick) in each setting below, from the chapter's initialisation and keys, then
tests it on the chapter's 600 test episodes:

    ours           32 filters, meta-batch  8, 1,000 steps, trained 1-shot
    64 filters     64 filters, meta-batch  8, 1,000 steps, trained 1-shot
    meta-batch 32  32 filters, meta-batch 32, 1,000 steps, trained 1-shot
    3,000 steps    32 filters, meta-batch  8, 3,000 steps, trained 1-shot
    trained 5-shot 32 filters, meta-batch  8, 1,000 steps, trained 5-shot

For each it prints the training time and the mean test accuracy (with its 95 % interval)
at 1-shot and 5-shot after 1 and 3 inner steps of alpha = 0.4. It prints figures and
checks nothing; on two CPU cores it takes about a quarter of an hour.

With --speed it times, instead, one meta-gradient of each of the chapter's two settings
(1-shot, meta-batch 8; 5-shot, meta-batch 4) four ways: the episodes one after another
(`lax.map`) or all at once (`lax.map` with `batch_size` the meta-batch, which is `vmap`),
each with the chapter's convolution by patches or with XLA's `lax.conv_general_dilated`.
The four take turns, 20 rounds; medians are printed. The chapter takes all episodes at
once at 1-shot and one after another at 5-shot.

    .venv/bin/python bench/images_shrink.py [--only NAME,NAME] [--head HEAD] [--speed]
"""
import argparse
import functools
import os
import pathlib
import time

os.environ.setdefault("MPLBACKEND", "Agg")

import jupytext  # noqa: E402

CHAPTER = pathlib.Path(__file__).resolve().parents[1] / "book" / "08_images.md"
STOP = "trained, curves = {}, {}"   # the chapter's training cell: run everything before it

SETTINGS = {
    "ours": dict(filters=32, meta_batch_size=8, n_steps=1000, k_shot=1),
    "64 filters": dict(filters=64, meta_batch_size=8, n_steps=1000, k_shot=1),
    "meta-batch 32": dict(filters=32, meta_batch_size=32, n_steps=1000, k_shot=1),
    "3,000 steps": dict(filters=32, meta_batch_size=8, n_steps=3000, k_shot=1),
    "trained 5-shot": dict(filters=32, meta_batch_size=8, n_steps=1000, k_shot=5),
}


def chapter_namespace():
    """Run the chapter's code cells up to its training cell; return their globals."""
    namespace = {"__name__": "chapter8"}
    for cell in jupytext.read(CHAPTER).cells:
        if cell.cell_type != "code":
            continue
        if STOP in cell.source:
            return namespace
        exec(compile(cell.source, str(CHAPTER), "exec"), namespace)
    raise SystemExit(f"{CHAPTER}: no cell contains {STOP!r}; update STOP")


def xla_conv(x, w):
    import jax
    return jax.lax.conv_general_dilated(x, w, (2, 2), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def speed(ns):
    """Median time of one meta-gradient: one after another or all at once, patches or
    XLA convolution, for 1-shot (meta-batch 8) and 5-shot (meta-batch 4) episodes."""
    import statistics
    jax = ns["jax"]
    params = ns["init_convnet"](ns["key_init"], ns["n_way"], 32)
    patches = ns["conv_stride2"]
    for k_shot, meta_batch in [(1, 8), (5, 4)]:
        episodes = jax.vmap(lambda k: ns["train_sample"][k_shot](k, ns["background"]))(
            jax.random.split(ns["key_train"], meta_batch))
        functions = {}
        for conv_name, conv in [("patches", patches), ("XLA conv", xla_conv)]:
            for batch_name, batch_size in [("one after another", None),
                                           ("all at once", meta_batch)]:
                def objective(p, e, conv=conv, batch_size=batch_size):
                    ns["conv_stride2"] = conv   # read by features() when traced
                    return ns["make_maml_objective"](ns["alpha"],
                                                     batch_size=batch_size)(p, e)
                functions[f"{batch_name}, {conv_name}"] = jax.jit(jax.grad(objective))
        times = {name: [] for name in functions}
        for name, f in functions.items():   # compile
            jax.block_until_ready(f(params, episodes))
        for _ in range(20):
            for name, f in functions.items():
                start = time.perf_counter()
                jax.block_until_ready(f(params, episodes))
                times[name].append(time.perf_counter() - start)
        ns["conv_stride2"] = patches
        print(f"{k_shot}-shot, meta-batch {meta_batch}:")
        for name, values in times.items():
            print(f"{name:>30}: {1000 * statistics.median(values):7.1f} ms per "
                  "meta-gradient")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated names of SETTINGS")
    parser.add_argument("--head", default="zeroing trick",
                        help='the starting head: "random", "zero" or "zeroing trick"')
    parser.add_argument("--speed", action="store_true", help="time the meta-gradient")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SETTINGS)
    ns = chapter_namespace()
    if args.speed:
        speed(ns)
        return
    jax, jnp, np, optax = ns["jax"], ns["jnp"], ns["np"], ns["optax"]
    rows = []
    for name in names:
        s = SETTINGS[name]
        start_head, zeroing = ns["HEADS"][args.head]
        params = ns["init_convnet"](ns["key_init"], ns["n_way"], s["filters"],
                                    head=start_head)
        optimizer = optax.adam(ns["meta_lr"])
        sample = functools.partial(ns["sample_episode"], n_way=ns["n_way"],
                                   k_shot=s["k_shot"], n_query=s["k_shot"])
        batch_size = s["meta_batch_size"] if s["k_shot"] == 1 else None
        objective = ns["make_maml_objective"](ns["alpha"], zeroing=zeroing,
                                              batch_size=batch_size)
        chunk = ns["make_train_chunk"](objective, optimizer, sample,
                                       s["meta_batch_size"])
        opt_state = optimizer.init(params)
        start = time.perf_counter()
        key_maml = jax.random.split(ns["key_train"], 3)[0]   # the chapter's key_meta
        keys = jax.random.split(key_maml, s["n_steps"])
        for part in jnp.split(keys, s["n_steps"] // 250):
            params, opt_state, losses = chunk(params, opt_state, ns["background"], part)
        losses.block_until_ready()
        seconds = time.perf_counter() - start
        cells = []
        for k_shot in (1, 5):
            curve = np.asarray(ns["adaptation_curves"](
                params, ns["evaluation"], jax.random.split(ns["key_test"], 600),
                ns["alpha"], ns["n_way"], k_shot, k_shot, 3))
            for steps in (1, 3):
                values = curve[:, steps]
                half = 1.96 * values.std() / np.sqrt(len(values))
                cells.append(f"{100 * values.mean():.1f} ± {100 * half:.1f}")
        rows.append(f"| {name} | {seconds:.0f} s | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    print("\n| setting | training | 1-shot, 1 step | 1-shot, 3 steps | 5-shot, 1 step "
          "| 5-shot, 3 steps |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
