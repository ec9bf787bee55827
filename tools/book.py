"""Where the book's files are: the one list of its pages and chapters, for the tests, the
tools and the Makefile.

    python tools/book.py chapters    print the notebook chapters, one per line (book/NN_topic)
    python tools/book.py evidence    print the evidence pages among them (book/NNb_topic)

The list is _toc.yml: its pages in reading order; the chapters are the pages whose .md
is a notebook (it starts with a jupytext header), and each has its .ipynb pair. This file
needs only the standard library at import, so the Makefile can ask it before any virtual
environment exists.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "executed"   # each stack's executed chapters (make book/test)


def toc_pages():
    """Every page of _toc.yml (its root, then each `file:`), relative to the root, without
    suffix, in reading order. tests/test_source.py checks this against a YAML parser."""
    text = (ROOT / "_toc.yml").read_text()
    root = re.search(r"^root:\s*(\S+)", text, re.M)[1]
    return [root] + re.findall(r"^\s*-?\s*file:\s*(\S+)", text, re.M)


def is_notebook(md):
    return md.read_text(encoding="utf8").startswith("---\njupytext:")


def is_evidence(md):
    """An evidence page (book/05b_topic.md): the checks behind a chapter's claims that cost
    minutes of compute, run alone, linked from the claims (STYLE.md)."""
    return re.match(r"\d\d[a-z]_", pathlib.Path(md).name) is not None


def chapters():
    """The notebook chapters, as paths of their .md sources, in reading order."""
    paths = [ROOT / f"{page}.md" for page in toc_pages()]
    return [p for p in paths if p.exists() and is_notebook(p)]


def source_hash(nb):
    """A hash of what a notebook says (cell types, sources, tags), outputs aside: the
    executed copy of a chapter records its source's, so a stale copy is found."""
    import hashlib
    import json

    digest = hashlib.sha256()
    for cell in nb["cells"]:
        source = cell["source"]
        source = "".join(source) if isinstance(source, list) else source
        digest.update(json.dumps([cell["cell_type"], source,
                                  cell.get("metadata", {}).get("tags", [])]).encode())
    return digest.hexdigest()


def config():
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())


def code_cells(md_path):
    """The source of each code cell of a chapter, in order."""
    import jupytext

    notebook = jupytext.read(md_path)
    return [c.source for c in notebook.cells if c.cell_type == "code"]


def requirement_pins(name="requirements.txt"):
    """{package name (lower case): pinned version} from a requirements file of the root."""
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#;]+)", line)
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


if __name__ == "__main__":
    if sys.argv[1:] not in (["chapters"], ["evidence"]):
        sys.exit(__doc__)
    for md in chapters():
        if sys.argv[1] == "chapters" or is_evidence(md):
            print(md.relative_to(ROOT).with_suffix(""))
