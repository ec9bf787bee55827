"""The robustness sweep: every chapter under every condition a reader's machine brings.

    python tools/sweep.py [--only NAME,NAME] [--jobs N] [--out DIR] [book/NN_topic.ipynb ...]

A claim of the book must hold wherever it runs, so each chapter is run with nbval (alone
in an empty folder, as `make test` runs it) under each condition below: the two
supported stacks (the pins of requirements.txt in .venv, Colab's of
requirements-colab.txt in .venv-colab), XLA's default CPU code and its AVX2 code
(`--xla_cpu_max_isa=AVX2`, as on CPUs without AVX-512), and other values of each
chapter's `key_seed`, set with papermill in the cell tagged `parameters` (a chapter
without that setting runs as written). Every comparison tested by an `assert` is recorded
with its margin (tools/record_asserts.py, loaded by conftest.py's --book-record).

The report, _build/sweep/report.md, has the table chapter x condition -> passed/FAILED and,
for each asserted comparison, the smallest margin seen and where. `make sweep` runs it
with --jobs 2; it is not part of `make test`.
"""

import argparse
import collections
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from book import ROOT, chapters

OUT = ROOT / "_build" / "sweep"   # the default; --out changes it
PINNED = ROOT / ".venv" / "bin" / "python"
COLAB = ROOT / ".venv-colab" / "bin" / "python"
AVX2 = "--xla_cpu_max_isa=AVX2"
CELL_TIMEOUT = 900   # seconds, as in the Makefile

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


def prepare(notebook, folder, seed):
    """Copy a chapter alone into its own folder, with key_seed set by papermill when the
    chapter has that setting. Returns the copy's path and whether the seed was set."""
    import papermill

    folder.mkdir(parents=True)
    target = folder / notebook.name
    if seed is not None and "key_seed" in papermill.inspect_notebook(str(notebook)):
        papermill.execute_notebook(str(notebook), str(target), parameters={"key_seed": seed},
                                   prepare_only=True, progress_bar=False, log_output=False)
        return target, True
    shutil.copy(notebook, target)
    return target, False


def run(name, notebooks):
    python, colab, flags, seed = CONDITIONS[name]
    if not python.exists():
        raise SystemExit(f"error: {python} is missing: run `make venv venv-colab` first")
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copies, as_written = [], set()
    for notebook in notebooks:
        copy, seeded = prepare(notebook, folder / "run" / notebook.stem, seed)
        copies.append(str(copy))
        if seed is not None and not seeded:
            as_written.add(notebook.name)
    record, summary = folder / "record.jsonl", folder / "report.jsonl"
    command = [str(PINNED), "-m", "pytest", "-q", "--no-header", "--nbval-lax",
               f"--nbval-cell-timeout={CELL_TIMEOUT}", f"--book-kernel={python}",
               f"--book-record={record}", f"--book-report={summary}",
               *(["--book-colab"] if colab else []), *copies]
    flags = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags:
        env["XLA_FLAGS"] = flags
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    (folder / "pytest.log").write_text(result.stdout + result.stderr)
    outcome = {}
    if summary.exists():
        for line in summary.read_text().splitlines():
            entry = json.loads(line)
            text = "passed" if entry["passed"] else f"FAILED (cell {entry['failed_cell']})"
            if entry["notebook"] in as_written:
                text += " (as written)"
            outcome[entry["notebook"]] = text
    print(f"{name}: {sum(v.startswith('passed') for v in outcome.values())} passed, "
          f"{sum(v.startswith('FAILED') for v in outcome.values())} failed "
          f"in {time.perf_counter() - start:.0f} s", flush=True)
    return name, outcome


def margins(names):
    """{(notebook, source, link): (smallest margin, condition, left, right, cell)}."""
    smallest = {}
    for name in names:
        path = OUT / name / "record.jsonl"
        if not path.exists():
            continue
        notebook = cell = None
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if "notebook" in entry:   # conftest.py's mark before each cell runs
                notebook, cell = entry["notebook"], entry["cell"]
                continue
            key = (notebook, entry["source"], entry["link"])
            if key not in smallest or entry["margin"] < smallest[key][0]:
                smallest[key] = (entry["margin"], name, entry["left"], entry["right"], cell)
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
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    parser.add_argument("--only", default=",".join(list(CONDITIONS)[:7]),
                        help="comma-separated conditions: " + ", ".join(CONDITIONS))
    parser.add_argument("--jobs", type=int, default=1, help="conditions run at once")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="a folder inside the repository")
    args = parser.parse_args(argv)
    args.only = args.only.split(",")
    unknown = set(args.only) - set(CONDITIONS)
    if unknown:
        parser.error(f"unknown conditions {sorted(unknown)}; choose from {list(CONDITIONS)}")
    OUT = args.out.resolve()
    if ROOT not in OUT.parents:   # conftest.py, which loads the recorder, lives at the root
        parser.error(f"--out must be a folder inside {ROOT}")
    notebooks = ([n.resolve() for n in args.notebooks]
                 or [md.with_suffix(".ipynb") for md in chapters()])
    missing = [str(n) for n in notebooks if not n.exists()]
    if missing:
        parser.error(f"no such notebooks: {missing}")
    names = [n.name for n in notebooks]
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
