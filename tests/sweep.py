"""The robustness sweep: every chapter under every condition a reader's machine brings.

    python tests/sweep.py [--only NAME,NAME] [--jobs N] [--out DIR] [book/NN_topic.ipynb ...]

A claim of the book must hold wherever it runs, so each chapter is executed (alone, by
tests/run_notebooks.py) under each condition below: the two supported stacks (the pins
of requirements.txt in .venv, Colab's of requirements-colab.txt in .venv-colab), XLA's
default CPU code and its AVX2 code (`--xla_cpu_max_isa=AVX2`, as on CPUs without
AVX-512), and other values of each chapter's `key_seed` (its cell tagged `parameters`).
Every comparison tested by an `assert` is recorded with its margin
(tests/kernel_startup/record_asserts.py).

The report, _build/sweep/report.md, has the table chapter x condition -> passed/FAILED and,
for each asserted comparison, the smallest margin seen and where. `make sweep` runs it
with --jobs 2 (about 1.5 hours on 2 cores); it is not part of `make test`.
"""

import argparse
import collections
import json
import os
import pathlib
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "sweep"   # the default; --out changes it
PINNED = ROOT / ".venv" / "bin" / "python"
COLAB = ROOT / ".venv-colab" / "bin" / "python"
AVX2 = "--xla_cpu_max_isa=AVX2"

# name: (python, as on Colab?, extra XLA flags, key_seed or None for the chapter's own).
# The first seven run by default; --only names any of them.
CONDITIONS = {
    "pinned": (PINNED, False, "", None),
    "pinned-avx2": (PINNED, False, AVX2, None),
    "colab": (COLAB, True, "", None),
    "colab-avx2": (COLAB, True, AVX2, None),
    "pinned-seed1": (PINNED, False, "", 1),
    "pinned-seed2": (PINNED, False, "", 2),
    "pinned-seed3": (PINNED, False, "", 3),
    # more keys on the other stack and CPU code, for a longer sweep:
    "colab-avx2-seed1": (COLAB, True, AVX2, 1),
    "colab-avx2-seed2": (COLAB, True, AVX2, 2),
    "colab-avx2-seed3": (COLAB, True, AVX2, 3),
}


def run(name, notebooks):
    python, colab, flags, seed = CONDITIONS[name]
    if not python.exists():
        raise SystemExit(f"error: {python} is missing: run `make venv venv-colab` first")
    record = OUT / f"{name}.jsonl"
    record.unlink(missing_ok=True)
    command = [str(python), str(ROOT / "tests" / "run_notebooks.py"), "--record", str(record),
               "--label", name, *(["--colab"] if colab else []),
               *(["--set", f"key_seed={seed}"] if seed is not None else []), *notebooks]
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip())
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    (OUT / f"{name}.log").write_text(result.stdout + result.stderr)
    outcome = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^(passed|FAILED) (\S+\.ipynb)( \[no such setting[^\]]*\])?", line)
        if match:
            ok = match[1] == "passed"
            outcome[match[2]] = ("passed" if ok else "FAILED") + (" (as written)" if match[3] else "")
    print(f"{name}: {sum(v.startswith('passed') for v in outcome.values())} passed, "
          f"{sum(v.startswith('FAILED') for v in outcome.values())} failed "
          f"in {time.perf_counter() - start:.0f} s", flush=True)
    return name, outcome


def margins(names):
    """{(notebook, source, link): (smallest margin, condition, left, right, cell)}."""
    smallest = {}
    for name in names:
        path = OUT / f"{name}.jsonl"
        if not path.exists():
            continue
        notebook = None
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if "notebook" in entry:
                notebook = entry["notebook"]
                continue
            key = (notebook, entry["source"], entry["link"])
            if key not in smallest or entry["margin"] < smallest[key][0]:
                smallest[key] = (entry["margin"], name, entry["left"], entry["right"],
                                 entry["cell"])
    return smallest


def report(names, outcomes, notebooks):
    lines = ["# Robustness sweep", "",
             "Conditions: " + "; ".join(
                 f"`{n}` = {'Colab' if CONDITIONS[n][1] else 'pinned'} stack"
                 + (f", {CONDITIONS[n][2]}" if CONDITIONS[n][2] else ", XLA's default CPU code")
                 + (f", key_seed={CONDITIONS[n][3]}" if CONDITIONS[n][3] is not None else "")
                 for n in names), "",
             "| chapter | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for nb in notebooks:
        lines.append(f"| {nb} | " + " | ".join(outcomes[n].get(nb, "not run") for n in names)
                     + " |")
    lines += ["", "## Smallest margin of each asserted comparison", "",
              "margin: how far the left side could move towards the bound before the assert "
              "fails, relative to the bound ((b - a) / |b| for a < b).", "",
              "| chapter | cell | comparison | smallest margin | where | left | right |",
              "|---|---|---|---|---|---|---|"]
    by_chapter = collections.defaultdict(list)
    for (nb, source, link), value in margins(names).items():
        by_chapter[nb].append((value[0], source, link, value))
    for nb in notebooks:
        for margin, source, link, (_, where, left, right, cell) in sorted(by_chapter[nb]):
            shown = source.replace("|", "\\|")
            shown = shown if len(shown) < 90 else shown[:87] + "..."
            lines.append(f"| {nb[:2]} | {cell} | `{shown}` ({link}) | {margin:.3g} | {where} "
                         f"| {left:.4g} | {right:.4g} |")
    return "\n".join(lines) + "\n"


def main(argv):
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*")
    parser.add_argument("--only", default=",".join(list(CONDITIONS)[:7]),
                        help="comma-separated conditions: " + ", ".join(CONDITIONS))
    parser.add_argument("--jobs", type=int, default=1, help="conditions run at once")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args(argv)
    args.only = args.only.split(",")
    unknown = set(args.only) - set(CONDITIONS)
    if unknown:
        parser.error(f"unknown conditions {sorted(unknown)}; choose from {list(CONDITIONS)}")
    OUT = args.out
    notebooks = [str(pathlib.Path(n).resolve()) for n in args.notebooks] or [
        str(p) for p in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))]
    names = [pathlib.Path(n).name for n in notebooks]
    OUT.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        outcomes = dict(pool.map(lambda n: run(n, notebooks), args.only))
    text = report(args.only, outcomes, names)
    (OUT / "report.md").write_text(text)
    print(text)
    failed = sum(v.startswith("FAILED") for o in outcomes.values() for v in o.values())
    print(f"{sum(len(o) for o in outcomes.values()) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
