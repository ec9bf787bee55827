"""Where the book's files are, shared by the tests."""

import pathlib
import re

import jupytext
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
HTML = ROOT / "_build" / "html"


def chapters():
    """The notebook chapters (book/*.md with a jupytext header), in reading order."""
    return sorted(p for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))


def toc_pages():
    """Every page listed in _toc.yml, as paths relative to the root, without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [
        c for part in toc.get("parts", []) for c in part.get("chapters", [])
    ]
    while stack:
        entry = stack.pop(0)
        pages.append(entry["file"])
        stack = list(entry.get("sections", [])) + stack
    return pages


def config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def code_cells(md_path):
    """The source of each code cell of a chapter, in order."""
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
