"""Put together the website's sources in _build/site, from the chapters nbval executed.

    python tools/stage_site.py [--stack pinned]

`make book` runs every chapter with nbval first (conftest.py keeps each executed copy in
_build/executed/STACK/), then this, then `jupyter-book build _build/site`. The staged
folder is the book's root as it is (_config.yml, _toc.yml, references.bib, _ext/, the
pages of book/), except that each chapter is its executed notebook instead of its .md.
The build executes nothing (`execute_notebooks: "off"`), so the website shows exactly the
runs that passed the test.

A chapter whose executed copy is missing, failed, comes from another source (the .ipynb
changed since it ran) or from another stack stops this with an error naming it: the
site never shows an execution that was not the tested one. Files are copied only when
they changed, so Sphinx rebuilds only the pages that did.
"""

import argparse
import json
import pathlib
import shutil
import sys

from book import EXECUTED, ROOT, chapters, source_hash

SITE = ROOT / "_build" / "site"
# What the site is built from, besides the pages of book/ (the chapters' .md excepted).
TOP = ["_toc.yml", "references.bib", "_ext", "_static"]
# The root's settings exclude the chapters' .ipynb (two sources for one page); here the
# chapters are .ipynb, so that line goes.
EXCLUDE_IPYNB = '  - "book/*.ipynb"\n'


def copy(source, target, staged):
    """Copy a file unless the target already holds the same bytes; note it as staged."""
    staged.add(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.read_bytes() == source.read_bytes():
        return
    shutil.copyfile(source, target)


def executed_chapter(md, stack):
    """The executed copy of a chapter, checked against its source; or an error message."""
    ipynb = md.with_suffix(".ipynb")
    done = EXECUTED / stack / ipynb.name
    rel = md.relative_to(ROOT)
    if not done.exists():
        return None, f"{rel}: not executed on the {stack} stack (no {done.relative_to(ROOT)})"
    executed = json.loads(done.read_text())
    stamp = executed.get("metadata", {}).get("maml_book", {})
    if stamp.get("executed_by") != "nbval":
        return None, f"{done.relative_to(ROOT)} was not written by the book's nbval run"
    if stamp.get("source_sha256") != source_hash(json.loads(ipynb.read_text())):
        return None, (f"{done.relative_to(ROOT)} is stale: {ipynb.relative_to(ROOT)} changed "
                      "since it ran (run `make book`)")
    missing = [i for i, c in enumerate(c for c in executed["cells"] if c["cell_type"] == "code")
               if c.get("execution_count") is None]
    if missing:
        return None, f"{done.relative_to(ROOT)}: code cells {missing[:5]} did not run"
    return done, None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="pinned", help="whose executions to show")
    args = parser.parse_args(argv)

    staged, problems = set(), []
    for name in TOP:
        source = ROOT / name
        for path in ([source] if source.is_file() else
                     sorted(p for p in source.rglob("*") if p.is_file()
                            and "__pycache__" not in p.parts)):
            copy(path, SITE / path.relative_to(ROOT), staged)
    notebooks = {md.with_suffix(".ipynb") for md in chapters()} | set(chapters())
    for path in sorted((ROOT / "book").rglob("*")):
        if path.is_file() and path not in notebooks and path.suffix != ".ipynb":
            copy(path, SITE / path.relative_to(ROOT), staged)
    for md in chapters():
        done, problem = executed_chapter(md, args.stack)
        if problem:
            problems.append(problem)
        else:
            copy(done, SITE / md.relative_to(ROOT).with_suffix(".ipynb"), staged)
    if problems:
        sys.exit("error: the site can show only tested executions:\n  " + "\n  ".join(problems))

    text = (ROOT / "_config.yml").read_text()
    if EXCLUDE_IPYNB not in text:
        sys.exit(f"error: _config.yml no longer has the line {EXCLUDE_IPYNB.strip()!r} "
                 "that tools/stage_site.py removes")
    config = SITE / "_config.yml"
    staged.add(config)
    if not config.exists() or config.read_text() != text.replace(EXCLUDE_IPYNB, ""):
        config.write_text(text.replace(EXCLUDE_IPYNB, ""))
    for path in sorted(SITE.rglob("*"), reverse=True):   # what no longer belongs
        if path.is_file() and path not in staged:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    print(f"staged {len(chapters())} executed chapters ({args.stack} stack) and the book's "
          f"pages in {SITE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
