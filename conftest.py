"""nbval, extended for the book: `pytest --nbval-lax` runs every chapter as a test.

A chapter passes when each of its cells runs without an error; its claims are `assert`s,
so that is the test of what the text says. `pytest --nbval-lax book/` runs the chapters
on the Python and packages you have. `make test` runs each chapter, copied alone into an
empty folder (as Colab opens it), once on each supported stack, with these options:

  --book-kernel=PYTHON  run the cells in this Python (a stack's own virtual environment);
                        the default is the kernel the notebook names
  --book-colab          the kernel imports a stand-in `google.colab` (tools/colab_stub) at
                        start, as Colab's kernel does, so each chapter's Colab branch runs
  --book-save=DIR       write each notebook that passed, with its outputs, to DIR (the
                        website is built from these: tools/stage_site.py)
  --book-report=FILE    one JSON line per notebook: passed or not, seconds, slowest cells
  --book-record=FILE    record every comparison an `assert` tests, with its margin
                        (tools/record_asserts.py), for the sweep; the cells after a failing
                        one still run

Whatever the options, a cell fails if it writes to stderr (a warning is a defect in the
book), and after a failing cell the rest of its notebook is skipped (except with
--book-record). The last lines of the report give each notebook's outcome and time.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))   # tools/book.py, for the tests too

from book import source_hash  # noqa: E402
KERNEL = "maml-book"


def pytest_addoption(parser):
    group = parser.getgroup("book", "MAML with JAX: running the chapters")
    group.addoption("--book-kernel", metavar="PYTHON",
                    help="run the notebooks' cells in this Python")
    group.addoption("--book-colab", action="store_true",
                    help="import a stand-in google.colab at kernel start, as on Colab")
    group.addoption("--book-save", metavar="DIR",
                    help="write each notebook that passed, executed, to DIR")
    group.addoption("--book-report", metavar="FILE",
                    help="append one JSON line per notebook with its outcome and time")
    group.addoption("--book-record", metavar="FILE",
                    help="record each asserted comparison's margin (the sweep)")


def _nbval_cell(item):
    return type(item).__name__ == "IPyNbCell"


def _kernel_python(config):
    """The kernel's Python, as an absolute path (symlinks kept: a venv's python is one)."""
    return os.path.abspath(config.getoption("book_kernel") or sys.executable)


def pytest_configure(config):
    config._book = {}  # notebook node id -> its state (see _state)
    if "XLA_FLAGS" in os.environ and not os.environ["XLA_FLAGS"].strip():
        del os.environ["XLA_FLAGS"]   # JAX 0.7 aborts on a blank one (it reads it as a file)
    opts = config.option
    if not (opts.book_kernel or opts.book_colab or opts.book_record):
        return
    if getattr(opts, "nbval_current_env", False) or getattr(opts, "nbval_kernel_name", None):
        raise pytest.UsageError(
            "--book-kernel, --book-colab and --book-record choose the kernel themselves: "
            "drop --nbval-current-env / --nbval-kernel-name")
    python = _kernel_python(config)
    if not pathlib.Path(python).exists():
        raise pytest.UsageError(f"--book-kernel: no Python at {python}")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="maml-book-kernel-"))
    config._book_tmp = tmp
    startup = tmp / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    env = {"IPYTHONDIR": str(startup.parents[1]),
           # debugpy's notice about frozen modules (Python >= 3.12) is not the book's
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if opts.book_colab:
        (startup / "00-colab.py").write_text("import google.colab  # as Colab's kernel does\n")
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(TOOLS / "colab_stub"), os.environ.get("PYTHONPATH")]))
    if opts.book_record:
        record = pathlib.Path(opts.book_record).resolve()
        (startup / "10-record.py").write_text((TOOLS / "record_asserts.py").read_text())
        env["MAML_BOOK_ASSERT_LOG"] = str(record)
    spec = tmp / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({python})", "language": "python", "env": env,
    }))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [str(spec.parents[1]), os.environ.get("JUPYTER_PATH")]))
    opts.nbval_kernel_name = KERNEL


def pytest_unconfigure(config):
    tmp = getattr(config, "_book_tmp", None)
    if tmp:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def _state(item):
    """What we keep of one notebook while its cells run."""
    notebook = item.parent
    return item.config._book.setdefault(notebook.nodeid, {
        "path": pathlib.Path(str(notebook.fspath)), "collector": notebook, "cells": 0,
        "failed": None, "skipped": 0, "durations": [], "start": None, "end": None,
    })


def pytest_runtest_setup(item):
    if not _nbval_cell(item):
        return
    state = _state(item)
    if state["start"] is None:
        state["start"] = time.perf_counter()
    record = item.config.getoption("book_record")
    if record:   # the recorder's lines that follow belong to this notebook and cell
        with open(record, "a") as log:
            log.write(json.dumps({"notebook": state["path"].name,
                                  "cell": item.cell_num}) + "\n")
    if state["failed"] is not None and not item.config.getoption("book_record"):
        state["skipped"] += 1
        pytest.skip(f"cell {state['failed'][0]} of this notebook failed")


def _stderr(outputs):
    return "".join(o.get("text", "") for o in outputs or []
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _nbval_cell(item):
        return
    report = outcome.get_result()
    state = _state(item)
    state["end"] = time.perf_counter()
    if report.when != "call":
        if report.failed and state["failed"] is None:
            state["failed"] = (item.cell_num, f"{report.when} failed")
        return
    state["cells"] += 1
    state["durations"].append((report.duration, item.cell_num))
    outputs = item.test_outputs or []
    item.cell.outputs = list(outputs)
    item.cell.execution_count = state["cells"]
    text = _stderr(outputs)
    if report.passed and text:
        report.outcome = "failed"
        report.longrepr = (f"{state['path'].name}, code cell {item.cell_num} wrote to stderr "
                           f"(a warning?); the book's cells print none:\n{text.strip()[:2000]}")
    if report.failed and state["failed"] is None:
        errors = [o for o in outputs if o.get("output_type") == "error"]
        why = (f"{errors[0]['ename']}: {errors[0]['evalue']}"[:300] if errors
               else "wrote to stderr" if text else "failed")
        state["failed"] = (item.cell_num, why)


def _stack(config):
    """The versions the kernel's Python runs (asked once, in a process of its own)."""
    if "stack" not in config._book_cache:
        code = ("import json, platform, jax, numpy; print(json.dumps({'python': "
                "platform.python_version(), 'jax': jax.__version__, "
                "'numpy': numpy.__version__}))")
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        done = subprocess.run([_kernel_python(config), "-c", code], env=env,
                              capture_output=True, text=True)
        config._book_cache["stack"] = json.loads(done.stdout) if done.returncode == 0 else {}
    return config._book_cache["stack"]


def _save(config, state, seconds):
    import nbformat

    nb = state["collector"].nb
    folder = pathlib.Path(config.getoption("book_save"))
    folder.mkdir(parents=True, exist_ok=True)
    source = nbformat.read(str(state["path"]), as_version=4)
    nb.metadata["maml_book"] = {
        "executed_by": "nbval", "source_sha256": source_hash(source),
        "colab_stand_in": bool(config.getoption("book_colab")),
        "xla_flags": os.environ.get("XLA_FLAGS", "").strip(),
        "seconds": round(seconds, 1), **_stack(config),
    }
    nbformat.validate(nb)
    target = folder / state["path"].name
    nbformat.write(nb, str(target.with_suffix(".tmp")))
    target.with_suffix(".tmp").replace(target)   # never a half-written notebook


def pytest_sessionfinish(session):
    config = session.config
    config._book_cache = {}
    for state in config._book.values():
        seconds = (state["end"] or 0) - (state["start"] or 0)
        slowest = sorted(state["durations"], reverse=True)[:3]
        state["summary"] = {
            "notebook": state["path"].name, "passed": state["failed"] is None,
            "seconds": round(seconds, 1),
            "failed_cell": state["failed"][0] if state["failed"] else None,
            "why": state["failed"][1] if state["failed"] else None,
            "slowest": [[cell, round(t, 1)] for t, cell in slowest],
        }
        if state["failed"] is None and config.getoption("book_save"):
            _save(config, state, seconds)
        report = config.getoption("book_report")
        if report:
            with open(report, "a") as log:
                log.write(json.dumps(state["summary"]) + "\n")


def pytest_terminal_summary(terminalreporter, config):
    states = list(getattr(config, "_book", {}).values())
    if not states:
        return
    for state in states:
        s = state.get("summary")
        if not s:
            continue
        slowest = ", ".join(f"cell {c}: {t:.0f} s" for c, t in s["slowest"])
        if s["passed"]:
            line = f"passed {s['notebook']} in {s['seconds']:.0f} s (slowest: {slowest})"
        else:
            line = (f"FAILED {s['notebook']} after {s['seconds']:.0f} s: code cell "
                    f"{s['failed_cell']}: {s['why']}")
        terminalreporter.write_line(line)
