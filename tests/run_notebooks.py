"""Execute the chapters' notebooks, each alone in an empty folder, and report each one.

    python tests/run_notebooks.py [options] [book/NN_topic.ipynb ...]   (default: all)

This is the book's test of its own claims: every chapter checks its numbers with
`assert`s, so a chapter passes when all its cells run without an error. Each `.ipynb` is
copied alone into an empty temporary folder, as Colab opens it, so a chapter that needs
another file of the repository fails here. The kernel is this Python's (`sys.executable`),
so running this script from another virtual environment tests another stack.

Options:
  --colab         run as on Colab: a stand-in `google.colab` (tests/colab_stub) is imported
                  at kernel start, so each chapter's Colab branch runs too
  --set NAME=VAL  override a setting of the cell tagged `parameters` (as papermill does:
                  a cell `NAME = VAL` is inserted after it); repeatable. Chapters without
                  that setting run unchanged, and the report says so
  --record FILE   append one JSON line per comparison tested by an `assert`, with its
                  margin (tests/kernel_startup/record_asserts.py), for the sweep; the
                  cells after a failing one still run, and every failing cell is reported
                  (MAML_BOOK_RECORD=DIR in the environment records to DIR/TAG.jsonl)
  --cache         store each executed chapter in the book's execution cache
                  (_build/.jupyter_cache), so that `jupyter-book build` shows these
                  outputs instead of executing the chapter again
  --label TEXT    a name for this run in the report (default: the stack's versions)
  --tag TEXT      a prefix for each line of the report, to tell two runs apart when
                  their reports interleave (make test runs both stacks at once)

A chapter fails if a cell raises (a failed `assert`, say) or prints to stderr (a warning).
Environment variables such as XLA_FLAGS reach the kernel unchanged. The last line is
`N passed, N failed`; the exit status is 1 if any chapter failed.
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def chapters():
    """book/NN_*.ipynb in reading order (the pairs of the jupytext chapters)."""
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def parameters_cell(nb):
    """Index of the code cell tagged `parameters`, or None."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return i
    return None


def inject(nb, settings):
    """Insert `NAME = VALUE` lines after the parameters cell; return the names applied."""
    index = parameters_cell(nb)
    if index is None or not settings:
        return []
    source = nb.cells[index].source
    names = [n for n in settings if re.search(rf"^{re.escape(n)}\s*=", source, re.M)]
    unknown = sorted(set(settings) - set(names))
    if len(names) < len(settings) and names:
        raise SystemExit(f"error: the parameters cell has no setting named {unknown}")
    if names:
        cell = nbformat.v4.new_code_cell(
            "# Injected by tests/run_notebooks.py --set\n"
            + "".join(f"{n} = {settings[n]}\n" for n in names)
        )
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(index + 1, cell)
    return names


def kernel_environment(tmp, colab, record):
    """A kernelspec for this Python, and an IPython profile with the startup files asked for."""
    spec = pathlib.Path(tmp, "jupyter", "kernels", "python3")
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python",
    }))
    startup = pathlib.Path(tmp, "ipython", "profile_default", "startup")
    startup.mkdir(parents=True)
    env = {"JUPYTER_PATH": str(spec.parents[1]), "IPYTHONDIR": str(startup.parents[1]),
           # debugpy's notice about frozen modules (Python >= 3.12) is not the book's
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if colab:
        (startup / "00-colab.py").write_text("import google.colab  # as Colab's kernel does\n")
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(HERE / "colab_stub"), os.environ.get("PYTHONPATH")])
        )
    if record:
        shutil.copy(HERE / "kernel_startup" / "record_asserts.py", startup / "10-record.py")
        env["MAML_BOOK_ASSERT_LOG"] = str(pathlib.Path(record).resolve())
    return env


def failure_report(nb, err):
    """The failing cell's last lines and the error, without colour codes."""
    text = ANSI.sub("", str(err))
    return "\n".join("    " + line for line in text.strip().splitlines()[-25:])


def stderr_outputs(nb):
    """What the cells printed to stderr (warnings, mostly): the book prints none."""
    found = []
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found.append(f"    code cell {number} printed to stderr: "
                             f"{output['text'].strip()[:500]}")
    return found


def slowest_cells(nb, n=3):
    """The n code cells that took longest, as 'cell N: S s' (from nbclient's timing)."""
    from datetime import datetime

    timed = []
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        timing = cell.metadata.get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            timed.append((seconds, number))
    return ", ".join(f"cell {k}: {t:.0f} s" for t, k in sorted(timed, reverse=True)[:n])


def cell_errors(nb):
    """Each cell that raised, with its error (when the cells after an error ran too)."""
    found = []
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                lines = [ln for ln in cell.source.splitlines() if ln.strip()]
                found.append(f"    code cell {number}: {output['ename']}: "
                             f"{ANSI.sub('', output['evalue'])[:300]}"
                             f" (cell ends: {lines[-1].strip() if lines else ''})")
    return found


def cache_executed(ipynb, executed):
    """Store the executed chapter in myst-nb's cache under its .md source."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from myst_nb.core.config import NbParserConfig
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    md = ipynb.with_suffix(".md")
    source = read_myst_markdown_notebook(
        md.read_text(encoding="utf8"), MdParserConfig(), add_source_map=True, path=md
    )
    _ = NbParserConfig  # the build reads the .md with these same defaults
    ran = [c for c in executed.cells if c.cell_type == "code"
           and "injected-parameters" not in c.metadata.get("tags", [])]
    code = [c for c in source.cells if c.cell_type == "code"]
    if [c.source for c in ran] != [c.source for c in code]:
        raise SystemExit(f"error: {md.name} and {ipynb.name} differ: run `make sync`")
    for target, done in zip(code, ran):
        target.outputs, target.execution_count = done.outputs, done.execution_count
    cache = get_cache(str(CACHE))
    cache.cache_notebook_bundle(
        CacheBundleIn(source, str(md), data={"execution_seconds": 0.0}),
        check_validity=False, overwrite=True,
    )


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    parser.add_argument("--colab", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--record")
    parser.add_argument("--cache", action="store_true")
    parser.add_argument("--label")
    parser.add_argument("--tag", default="")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.record and os.environ.get("MAML_BOOK_RECORD"):
        folder = pathlib.Path(os.environ["MAML_BOOK_RECORD"])
        folder.mkdir(parents=True, exist_ok=True)
        args.record = str(folder / f"{args.tag or 'run'}.jsonl")
    settings = dict(s.split("=", 1) for s in args.set)
    notebooks = [p.resolve() for p in args.notebooks] or chapters()

    import jax
    import numpy

    label = args.label or (
        f"Python {sys.version.split()[0]}, jax {jax.__version__}, numpy {numpy.__version__}"
        + (", as on Colab" if args.colab else "")
        + (f", XLA_FLAGS={os.environ['XLA_FLAGS']}" if os.environ.get("XLA_FLAGS") else "")
        + (f", {args.set}" if args.set else "")
    )
    tag = f"[{args.tag}] " if args.tag else ""
    print(f"{tag}Executing {len(notebooks)} chapters alone ({label})", flush=True)
    passed, failed = [], []
    with tempfile.TemporaryDirectory(prefix="maml-book-run-") as tmp:
        env = kernel_environment(tmp, args.colab, args.record)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            for ipynb in notebooks:
                if not ipynb.exists():
                    raise SystemExit(f"error: {ipynb} does not exist (run `make sync`)")
                folder = pathlib.Path(tmp, "run", ipynb.stem)
                folder.mkdir(parents=True)
                nb = nbformat.read(shutil.copy(ipynb, folder), as_version=4)
                applied = inject(nb, settings)
                note = f" [{', '.join(f'{n}={settings[n]}' for n in applied)}]" if applied else (
                    " [no such setting: run as written]" if settings else "")
                if args.record:
                    with open(args.record, "a") as log:
                        log.write(json.dumps({"notebook": ipynb.name, "label": label}) + "\n")
                start = time.perf_counter()
                client = NotebookClient(
                    nb, timeout=args.timeout, kernel_name="python3",
                    resources={"metadata": {"path": str(folder)}},
                    allow_errors=bool(args.record),
                )
                try:
                    client.execute()
                except CellExecutionError as err:
                    failed.append(ipynb.name)
                    print(f"{tag}FAILED {ipynb.name}{note} after {time.perf_counter() - start:.0f} s:"
                          f"\n{failure_report(nb, err)}", flush=True)
                    continue
                seconds = time.perf_counter() - start
                problems = cell_errors(nb) or stderr_outputs(nb)   # errors first, then warnings
                if problems:
                    failed.append(ipynb.name)
                    print(f"{tag}FAILED {ipynb.name}{note} after {seconds:.0f} s:\n"
                          + "\n".join(problems), flush=True)
                    continue
                passed.append(ipynb.name)
                if args.cache and not applied:
                    cache_executed(ipynb, nb)
                print(f"{tag}passed {ipynb.name}{note} in {seconds:.0f} s "
                      f"(slowest: {slowest_cells(nb)})", flush=True)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    print(f"{tag}{len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
