"""How fast can the MAML paper's sinusoid run (70,000 meta-steps) go on this machine?

Times the same problem (see `maml_jax.py`: meta-batch 25, K = 10, one second-order inner
step, Adam) implemented several ways, each in its own Python process:

  jax-book               (a)  chapter 4's code: vmap over tasks; a jitted chunk of 10,000
                              steps samples all their meta-batches on the device at once,
                              then runs the steps in a lax.scan
  jax-per-step-sampling       (a) with each step sampling its own meta-batch in the scan
  jax-book-1core              (a) with the process restricted to one CPU core
  jax-fast               (a') ... and the meta-loss `loss_fast` (same meta-gradient)
  jax-loop               (b)  a Python loop: NumPy sampling on the host, one jitted step
  torch-eager            (c)  PyTorch torch.func (functional_call, grad, vmap), eager
  torch-compile          (c)  the same step under torch.compile
  jax-book, meta-batch 1      (a) and its 1-core version with a single task per meta-step

Implementations run one after another, in rounds, so that a slow spell of the machine
touches all of them; the table reports medians over every timed repetition, with ranges.
Before timing, `check_torch_grad.py` checks that (a'), (a) and (c) compute the same
meta-gradient.

    python bench/maml_speed.py            # about 4-5 minutes
    python bench/maml_speed.py --quick    # about 1 minute, fewer and shorter repetitions
    MAML_BENCH_QUICK=1 make bench         # the same through make
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER_STEPS = 70_000

# name: (kind, options). steps: meta-steps per timed repetition (full run; --quick divides).
IMPLS = {
    "jax-book": ("jax-scan", dict(loss="book", sampling="bulk", pin=False, steps=10_000)),
    "jax-per-step-sampling": ("jax-scan", dict(loss="book", sampling="per-step", pin=False, steps=10_000)),
    "jax-book-1core": ("jax-scan", dict(loss="book", sampling="bulk", pin=True, steps=10_000)),
    "jax-fast": ("jax-scan", dict(loss="fast", sampling="bulk", pin=True, steps=10_000)),
    "jax-loop": ("jax-loop", dict(pin=False, steps=2_000)),
    "torch-eager": ("torch", dict(compiled=False, steps=300)),
    "torch-compile": ("torch", dict(compiled=True, steps=1_500)),
    "jax-book, meta-batch 1": ("jax-scan", dict(loss="book", sampling="bulk", pin=False,
                                                steps=10_000, meta_batch_size=1)),
    "jax-book-1core, meta-batch 1": ("jax-scan", dict(loss="book", sampling="bulk", pin=True,
                                                      steps=10_000, meta_batch_size=1)),
}
LABELS = {"jax-book": "(a)", "jax-fast": "(a')", "jax-loop": "(b)",
          "torch-eager": "(c)", "torch-compile": "(c)"}


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def pin_to_one_core():
    """Restrict this process (and the threads XLA will start) to one CPU core. Must run
    before jax is imported: XLA sizes its thread pool from the cores it may use."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[-1]})


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB


def block(tree):
    import jax
    return jax.block_until_ready(tree)


# --- Workers: each runs in a fresh process and prints one JSON line ---------------------

def worker_jax_scan(opts, reps, quick):
    if opts["pin"]:
        pin_to_one_core()
    import jax
    import jax.numpy as jnp
    import maml_jax as mj

    meta_batch_size = opts.get("meta_batch_size", mj.META_BATCH_SIZE)
    steps = opts["steps"] // (4 if quick else 1)
    objective = mj.maml_objective if opts["loss"] == "book" else mj.fast_objective
    if opts["sampling"] == "per-step":
        train = mj.make_train_per_step(objective, mj.meta_optimizer, meta_batch_size, mj.K)
    else:                                      # chapter 4's loop: one call = one chunk of steps
        train = mj.make_train_chunk(objective, mj.meta_optimizer, meta_batch_size, mj.K)
    key_init, key_train = jax.random.split(jax.random.key(0))
    params = mj.init_mlp(key_init, mj.SIZES)
    opt_state = mj.meta_optimizer.init(params)
    keys = jax.random.split(key_train, steps)

    def fresh_state():
        """A copy of the starting state: the chunk donates (deletes) what it is given, so
        every call, all from the same state, gets its own copy, made before the timer."""
        return block((jax.tree.map(jnp.copy, params), jax.tree.map(jnp.copy, opt_state)))

    t = time.perf_counter()
    compiled = train.lower(params, opt_state, keys).compile()
    compile_s = time.perf_counter() - t
    block(compiled(*fresh_state(), keys))                      # warm-up run, not timed
    times = []
    for _ in range(reps):
        state = fresh_state()
        t = time.perf_counter()
        _, _, losses = block(compiled(*state, keys))
        times.append(time.perf_counter() - t)

    # FLOPs of one meta-step (sampling, meta-gradient, Adam) as XLA counts them.
    step = mj.make_meta_step(objective, mj.meta_optimizer)
    one_step = jax.jit(lambda carry, key: step(carry, mj.sample_meta_batch(key, meta_batch_size, mj.K)))
    cost = one_step.lower((params, opt_state), keys[0]).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return dict(steps=steps, times=times, compile_s=compile_s, flops_per_step=cost["flops"],
                final_loss=float(losses[-min(500, steps):].mean()))


def worker_jax_loop(opts, reps, quick):
    if opts["pin"]:
        pin_to_one_core()
    import jax
    import numpy as np
    import maml_jax as mj

    steps = opts["steps"] // (4 if quick else 1)
    step = mj.make_step_classic(mj.maml_objective, mj.meta_optimizer)
    params = mj.init_mlp(jax.random.key(0), mj.SIZES)
    opt_state = mj.meta_optimizer.init(params)
    rng = np.random.default_rng(0)

    def run(params, opt_state, n):
        for _ in range(n):
            support, query = mj.sample_batch_numpy(rng)
            (params, opt_state), loss = step(params, opt_state, support, query)
        return block((params, opt_state, loss))

    compile_s, times = time_loop(lambda n: run(params, opt_state, n), steps, reps, warmup=50)
    return dict(steps=steps, times=times, compile_s=compile_s)


def time_loop(run, steps, reps, warmup):
    """Time run(steps) `reps` times, after run(1) (timed: it compiles) and run(warmup)."""
    t = time.perf_counter()
    run(1)
    compile_s = time.perf_counter() - t
    run(warmup)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run(steps)
        times.append(time.perf_counter() - t)
    return compile_s, times


def worker_torch(opts, reps, quick):
    import torch
    import maml_torch as mt

    steps = opts["steps"] // (4 if quick else 1)
    torch.manual_seed(0)
    params = {k: v.detach().clone() for k, v in mt.MODEL.named_parameters()}
    state = mt.adam_init(params)
    generator = torch.Generator().manual_seed(0)
    step = torch.compile(mt.train_step) if opts["compiled"] else mt.train_step

    def run(params, state, n):
        for _ in range(n):
            params, state = step(params, state, *mt.sample_batch(generator))
        return params, state

    compile_s, times = time_loop(lambda n: run(params, state, n), steps, reps, warmup=20)
    return dict(steps=steps, times=times, compile_s=compile_s if opts["compiled"] else None,
                torch=torch.__version__, threads=torch.get_num_threads())


def worker_matmul_peak(opts, reps, quick):
    """float32 throughput of this workload's matrix-product shapes, jitted, in a scan."""
    if opts["pin"]:
        pin_to_one_core()
    import jax
    import jax.numpy as jnp

    shapes = {"(25,10,40)@(25,40,40)": ((25, 10, 40), (25, 40, 40)),
              "(250,40)@(40,40)": ((250, 40), (40, 40))}
    n = 2_000 if quick else 5_000
    out = {}
    for name, (sa, sb) in shapes.items():
        ka, kb = jax.random.split(jax.random.key(0))
        a, b = jax.random.normal(ka, sa), jax.random.normal(kb, sb) * 0.1

        def body(x, _, b=b):
            return x + 1e-3 * (x @ b), None                     # keep a data dependence
        run = jax.jit(lambda x: jax.lax.scan(body, x, None, length=n)[0])
        block(run(a))
        times = []
        for _ in range(max(reps, 3)):
            t = time.perf_counter()
            block(run(a))
            times.append(time.perf_counter() - t)
        flops = 2 * a.size * sb[-1]
        out[name] = flops * n / statistics.median(times) / 1e9
    return dict(gflops=out)


def worker_import(opts, reps, quick):
    import jax
    jax.numpy.zeros(1).block_until_ready()
    if opts.get("torch") and torch_available():
        import torch  # noqa: F401
    return {}


WORKERS = {"jax-scan": worker_jax_scan, "jax-loop": worker_jax_loop, "torch": worker_torch,
           "matmul-peak": worker_matmul_peak, "import": worker_import}


def worker_main(kind, opts, reps, quick):
    sys.path.insert(0, HERE)
    result = WORKERS[kind](opts, reps, quick)
    result["peak_rss_mib"] = peak_rss_mib()
    print("RESULT " + json.dumps(result), flush=True)


# --- Parent: run workers in alternating rounds, print the table -------------------------

def run_worker(kind, opts, reps, quick):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
           "--opts", json.dumps(opts), "--reps", str(reps)] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"error: worker {kind} {opts} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def fmt_range(values, f="{:.0f}"):
    return f"{f.format(statistics.median(values))} ({f.format(min(values))}-{f.format(max(values))})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("MAML_BENCH_QUICK")),
                        help="one round, shorter repetitions (also: MAML_BENCH_QUICK=1)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over all implementations")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--opts", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker, json.loads(args.opts), args.reps, args.quick)

    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    reps = 2 if quick else 3
    have_torch = torch_available()
    names = [n for n in IMPLS if have_torch or IMPLS[n][0] != "torch"]
    if quick:
        names = [n for n in names if "meta-batch 1" not in n]

    t_start = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPU cores ({_cpu_model()}); python {sys.version.split()[0]}")
    print("checking that the implementations compute the same meta-gradient ...", flush=True)
    check = subprocess.run([sys.executable, os.path.join(HERE, "check_torch_grad.py")], text=True)
    if check.returncode:
        sys.exit("error: check_torch_grad.py failed; not timing implementations that disagree")
    if not have_torch:
        print("skipped: torch not installed, run `make bench-torch` to include PyTorch (c)")

    results = {n: [] for n in names}
    peaks = {"default": [], "1core": []}
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}:", end="", flush=True)
        for name in names:
            kind, opts = IMPLS[name]
            results[name].append(run_worker(kind, opts, reps, quick))
            print(f" {name}", end="", flush=True)
        for mode in peaks:
            peaks[mode].append(run_worker("matmul-peak", dict(pin=mode == "1core"), reps, quick)["gflops"])
        print(flush=True)
    base_jax = run_worker("import", {}, 1, quick)["peak_rss_mib"]
    base_torch = run_worker("import", dict(torch=True), 1, quick)["peak_rss_mib"] if have_torch else None

    # Per implementation: steps/s of every timed repetition.
    rate = {n: [res["steps"] / t for res in results[n] for t in res["times"]] for n in names}
    ref = statistics.median(rate["jax-book"])
    print()
    print(f"meta-batch 25 unless stated; medians (min-max) over {rounds} round(s) x {reps} repetitions; "
          f"{PAPER_STEPS:,} steps projected from steps/s")
    header = (f"{'implementation':30s} {'':4s} {'steps/s':>18s} {'ms/step':>7s} {'70k steps, s':>13s} "
              f"{'compile, s':>10s} {'peak RSS, MiB':>13s} {'x (a)':>6s} {'GFLOP/s':>8s}")
    print(header)
    print("-" * len(header))
    for n in names:
        med = statistics.median(rate[n])
        comp = [res["compile_s"] for res in results[n] if res.get("compile_s") is not None]
        flops = [res.get("flops_per_step") for res in results[n]][0]
        gflops = f"{flops * med / 1e9:8.1f}" if flops else f"{'':8s}"
        print(f"{n:30s} {LABELS.get(n, ''):4s} {fmt_range(rate[n]):>18s} {1e3 / med:7.3f} "
              f"{PAPER_STEPS / med:13.1f} {f'{statistics.median(comp):.1f}' if comp else '-':>10s} "
              f"{max(res['peak_rss_mib'] for res in results[n]):13.0f} {med / ref:6.2f} {gflops}")
    print()
    book = results["jax-book"][0]
    print(f"(a) FLOPs per meta-step (XLA cost analysis: sampling + meta-gradient + Adam): "
          f"{book['flops_per_step'] / 1e6:.2f} M; achieved {book['flops_per_step'] * ref / 1e9:.1f} GFLOP/s")
    for mode, label in (("default", "all cores (default)"), ("1core", "one core")):
        for shape in peaks[mode][0]:
            vals = [p[shape] for p in peaks[mode]]
            print(f"measured float32 throughput, jitted {shape:22s} {label:20s}: {fmt_range(vals, '{:.0f}')} GFLOP/s")
    print(f"peak RSS = ru_maxrss of each implementation's own process; a process that only imports "
          f"jax and runs one op peaks at {base_jax:.0f} MiB" +
          (f", with torch also imported at {base_torch:.0f} MiB" if base_torch else ""))
    if "torch-eager" in rate:
        fast = statistics.median(rate["jax-fast"])
        print(f"(a') vs torch.func eager: {fast / statistics.median(rate['torch-eager']):.1f}x; "
              f"vs torch.compile: {fast / statistics.median(rate['torch-compile']):.1f}x "
              f"(torch {results['torch-eager'][0]['torch']}, {results['torch-eager'][0]['threads']} threads)")
    losses = {n: results[n][0]["final_loss"] for n in names if "final_loss" in results[n][0]}
    print("mean meta-loss over the last 500 steps of a timed run: " +
          ", ".join(f"{n} {v:.3f}" for n, v in losses.items()))
    print(f"total time {time.perf_counter() - t_start:.0f} s")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
