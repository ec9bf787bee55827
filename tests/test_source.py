"""Fast checks of the book's sources: pairs in sync, Colab cells, recaps, the toc, APIs.

These run before any notebook is executed. Each failure names the file at fault.
"""

import ast
import pathlib
import re

import jupytext
import pytest
import yaml
from jupytext.compare import compare_notebooks

from book import (BOOK, ROOT, chapters, code_cells, is_evidence, is_notebook, requirement_pins,
                  toc_pages)

CHAPTERS = chapters()
IDS = [p.name for p in CHAPTERS]


def test_there_are_chapters():
    assert CHAPTERS, f"no jupytext chapters found in {BOOK}"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_pair_in_sync(md):
    """The .ipynb holds exactly the cells of the .md (outputs aside)."""
    ipynb = md.with_suffix(".ipynb")
    rel = md.relative_to(ROOT)
    assert ipynb.exists(), f"{rel} has no paired {ipynb.name}: run `make sync`"
    from_md = jupytext.read(md)
    from_ipynb = jupytext.read(ipynb)
    try:
        compare_notebooks(from_ipynb, from_md, fmt="md:myst")
    except Exception as err:  # jupytext raises its own NotebookDifference
        pytest.fail(
            f"{rel} and {ipynb.name} differ (edit the .md, then run `make sync`):\n{err}"
        )
    formats = from_ipynb.metadata.get("jupytext", {}).get("formats")
    assert formats == "ipynb,md:myst", f"{ipynb.name}: jupytext formats are {formats!r}"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_first_cell_installs_pins_only_on_colab(md):
    """Colab gets the pinned versions; everywhere else the cell does nothing."""
    first = code_cells(md)[0]
    rel = md.relative_to(ROOT)
    assert 'if "google.colab" in sys.modules:' in first, (
        f"{rel}: the first code cell must install what Colab lacks, guarded by "
        "`if \"google.colab\" in sys.modules:`"
    )
    pins = requirement_pins()
    for name, version in re.findall(r'"([A-Za-z0-9_.\-]+)==([^"]+)"', first):
        expected = pins.get(name.lower())
        assert version == expected, (
            f"{rel}: the Colab cell installs {name}=={version}, requirements.txt pins {expected}"
        )


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_colab_install_is_guarded_and_pinned(md):
    """A later cell that installs a package (chapter 8's data) does so only on Colab, at
    the version requirements.txt pins."""
    pins = requirement_pins()
    rel = md.relative_to(ROOT)
    for cell in code_cells(md)[1:]:
        if "subprocess.run" not in cell or '"install"' not in cell:
            continue
        assert 'if "google.colab" in sys.modules:' in cell, (
            f"{rel}: a cell installs packages without the Colab guard:\n{cell}"
        )
        for name, version in re.findall(r'"([A-Za-z0-9_.\-]+)==([^"]+)"', cell):
            expected = pins.get(name.lower())
            assert version == expected, (
                f"{rel}: a Colab cell installs {name}=={version}, requirements.txt pins "
                f"{expected}"
            )


def _definitions(source):
    """{name: exact source text} of the top-level definitions in a cell."""
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        else:
            continue
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        text = "\n".join(source.splitlines()[start - 1 : node.end_lineno])
        for name in names:
            found[name] = text
    return found


RECAP = re.compile(r"^# Recap from (\S+?)(?:\.md)?:", re.M)


def _recaps():
    for md in CHAPTERS:
        for index, cell in enumerate(code_cells(md)):
            match = RECAP.match(cell)
            if match:
                yield pytest.param(md, cell, match[1], id=f"{md.name}-cell{index}")


@pytest.mark.parametrize("md, cell, source_name", list(_recaps()))
def test_recap_identical_to_where_it_was_taught(md, cell, source_name):
    """A cell starting `# Recap from 02_topic:` restates definitions from book/02_topic.md."""
    source = BOOK / f"{source_name}.md"
    assert source.exists(), f"{md.name}: recap names {source_name}, but {source} does not exist"
    taught = {}
    for code in code_cells(source):
        taught.update(_definitions(code))
    recap = _definitions(cell)
    assert recap, f"{md.name}: the recap cell from {source_name} defines nothing"
    for name, text in recap.items():
        assert name in taught, f"{md.name}: recap defines {name!r}, which {source.name} does not"
        assert text == taught[name], (
            f"{md.name}: the recap of {name!r} differs from {source.name}:\n"
            f"--- recap\n{text}\n--- taught\n{taught[name]}"
        )



@pytest.mark.parametrize("md, cell, source_name", list(_recaps()))
def test_recap_is_folded_and_titled(md, cell, source_name):
    """On the website a recap shows only a title saying what it restates."""
    notebook = jupytext.read(md)
    (metadata,) = [c.metadata for c in notebook.cells if c.cell_type == "code" and c.source == cell]
    assert "hide-input" in metadata.get("tags", []), (
        f"{md.name}: the recap from {source_name} is not folded (tag it hide-input)"
    )
    title = metadata.get("mystnb", {}).get("code_prompt_show", "")
    assert title.startswith("Recap from chapter "), (
        f"{md.name}: the folded recap from {source_name} needs a title "
        "(mystnb: code_prompt_show: \"Recap from chapter N: what it restates ...\")"
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_code_lines_fit_88_columns(md):
    long = [
        (index, line)
        for index, cell in enumerate(code_cells(md))
        for line in cell.splitlines()
        if len(line) > 88
    ]
    assert not long, f"{md.name}: code lines over 88 characters (cell, line): {long}"


def test_every_chapter_is_in_the_toc():
    """_toc.yml is the one list of chapters: every notebook in book/ is on it."""
    pages = toc_pages()
    for md in sorted(BOOK.glob("*.md")):
        if is_notebook(md):
            page = str(md.relative_to(ROOT).with_suffix(""))
            assert page in pages, f"{md.relative_to(ROOT)} is missing from _toc.yml"


def test_the_toc_as_tools_book_reads_it():
    """tools/book.py reads _toc.yml without a YAML parser (the Makefile asks it before any
    environment exists); it must read what jupyter-book reads."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [
        c for part in toc.get("parts", []) for c in part.get("chapters", [])
    ]
    while stack:
        entry = stack.pop(0)
        pages.append(entry["file"])
        stack = list(entry.get("sections", [])) + stack
    assert toc_pages() == pages, f"tools/book.py reads {toc_pages()}, YAML says {pages}"


def test_bench_times_chapter_4s_code():
    """bench/maml_jax.py copies chapter 4's code (with its recaps) so that the benchmark's
    row (a) times the book: each copied definition is identical to the chapter's."""
    bench = (ROOT / "bench" / "maml_jax.py").read_text()
    listed = ast.parse((ROOT / "bench" / "check_torch_grad.py").read_text())
    (copied,) = [ast.literal_eval(node.value) for node in listed.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COPIED"]
    taught = {}
    for code in code_cells(BOOK / "04_batched_maml.md"):
        taught.update(_definitions(code))
    ours = _definitions(bench)
    drifted = [name for name in copied if ours.get(name) != taught.get(name)]
    assert not drifted, (
        f"bench/maml_jax.py: {drifted} differ from book/04_batched_maml.md; copy the "
        "chapter's version so that the benchmark times the book's code")


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_has_opening_box_summary_exercises_and_references(md):
    text = md.read_text()
    match = re.search(r"```\{admonition\} In this chapter\n(.*?)\n```", text, re.S)
    assert match, f"{md.name}: no opening box (```{{admonition}} In this chapter)"
    box = match[1]
    for part in ("**You will learn**", "**You need**", "{ref}`notation`"):
        assert part in box, f"{md.name}: the opening box lacks {part}"
    # An evidence page (book/05b_topic.md) backs a chapter's claims; it has no exercises.
    for heading in ("\n## Summary\n",) + (() if is_evidence(md) else ("\n## Exercises\n",)):
        assert heading in text, f"{md.name}: no section {heading.strip()!r}"
    if not is_evidence(md):
        assert ":class: dropdown" in text, f"{md.name}: the exercises have no folded solution"
    assert "\n## References\n" in text, f"{md.name}: no section 'References'"
    cited = set(re.findall(r"\{cite:[pt]\}`([^`]+)`", text.split("\n## References\n")[0]))
    listed = set(re.findall(r"\{cite:t\}`([^`]+)`", text.split("\n## References\n")[1]))
    cited = {key.strip() for keys in cited for key in keys.split(",")}
    assert cited <= listed, f"{md.name}: cited but not under References: {sorted(cited - listed)}"


@pytest.mark.parametrize("md", sorted(BOOK.glob("*.md")), ids=lambda p: p.name)
def test_mentions_of_chapters_are_links(md):
    """'as in chapter 3' in the prose is a {ref}/{doc} link, so the reader can follow it."""
    cells = jupytext.reads(md.read_text(), "md:myst").cells
    prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    prose = re.sub(r"^\s*```.*$", "", prose, flags=re.M)          # directive fences
    prose = re.sub(r"\{(ref|doc|eq)\}`[^`]*`", "", prose)          # links
    prose = re.sub(r"`[^`\n]*`", "", prose)                          # inline code
    plain = re.findall(r".{0,30}\b[Cc]hapters? [1-9]\b.{0,20}", prose)
    assert not plain, f"{md.name}: mentions of chapters that are not links: {plain}"


# Removed or legacy APIs, and NumPy's global random generator (written in pieces so that
# this file does not match itself).
LEGACY = re.compile("|".join([
    r"jax\.experimental\." + r"(stax|optimizers)",
    "tree_" + "multimap",
    r"jax\.tree_util\." + r"tree_map\(",
    "PRNG" + r"Key\(",
    r"np\.random\." + r"(seed|uniform|normal|randn|rand|randint|choice)\(",
]))


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.md")) + sorted((ROOT / "bench").glob("*.py"))
                         + sorted((ROOT / "tests").glob("*.py")),
                         ids=lambda p: p.name)
def test_no_legacy_apis_or_global_rng(path):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        assert not LEGACY.search(line), (
            f"{path.relative_to(ROOT)}:{number} uses a removed/legacy API or the global NumPy "
            f"RNG: {line.strip()}"
        )


def test_first_cells_are_one_cell():
    """Every chapter opens with the same Colab cell, so one fix reaches them all."""
    first = {md.name: code_cells(md)[0] for md in CHAPTERS}
    reference = first[CHAPTERS[0].name]
    differ = [name for name, cell in first.items() if cell != reference]
    assert not differ, f"the first code cell of {differ} differs from {CHAPTERS[0].name}'s"


def test_colab_cell_floor_is_the_tested_colab_jax():
    """The JAX version the Colab cell accepts as oldest is the one `make test-colab` tests."""
    first = code_cells(CHAPTERS[0])[0]
    match = re.search(r"< \((\d+), (\d+), (\d+)\)", first)
    assert match, f"{CHAPTERS[0].name}: the Colab cell has no JAX version floor"
    floor = ".".join(match.groups())
    tested = requirement_pins("requirements-colab.txt")["jax"]
    assert floor == tested, (
        f"the Colab cell accepts JAX >= {floor}, requirements-colab.txt tests jax=={tested}"
    )
    newest = requirement_pins()["jax"]
    for doc in ("README.md", "book/intro.md"):
        for end in (floor, newest):
            assert f"JAX {end}" in (ROOT / doc).read_text(), (
                f"{doc} does not state JAX {end}, an end of the tested range")


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_random_chapters_have_a_key_seed_setting(md):
    """A chapter that draws random numbers takes them from `key_seed`, which the sweep sets."""
    notebook = jupytext.read(md)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    if not any("jax.random.key(" in c.source for c in cells):
        return
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{md.name}: draws random numbers but has no cell tagged parameters"
    assert re.search(r"^key_seed = ", tagged[0].source, re.M), (
        f"{md.name}: the parameters cell does not set key_seed"
    )
    assert any("jax.random.key(key_seed)" in c.source for c in cells), (
        f"{md.name}: no key is made from key_seed"
    )


WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_workflows_match_githubs_schema():
    """The GitHub workflows validate against GitHub's schema (vendored by check-jsonschema)."""
    import subprocess
    import sys

    assert WORKFLOWS, "no GitHub workflows in .github/workflows/"
    checker = pathlib.Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, f"a workflow does not match GitHub's schema:\n{result.stdout}"


def test_the_workflow_publishes_what_it_tested():
    """GitHub runs `make test` on main and pull requests, and Pages gets that run's site."""
    (path,) = WORKFLOWS
    workflow = yaml.safe_load(path.read_text())
    on = workflow.get(True, workflow.get("on"))   # YAML 1.1 reads `on:` as True
    assert on["push"]["branches"] == ["main"], f"{path.name}: push runs on {on['push']}"
    assert "pull_request" in on, f"{path.name}: pull requests are not tested"
    assert workflow["permissions"] == {"contents": "read"}, f"{path.name}: broad permissions"
    test, publish = workflow["jobs"]["test"], workflow["jobs"]["publish"]
    runs = "\n".join(step.get("run", "") for step in test["steps"])
    assert re.search(r"^make test\b", runs, re.M), f"{path.name}: the test job does not run make test"
    uploads = [s for s in test["steps"] if "upload-pages-artifact" in s.get("uses", "")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html", (
        f"{path.name}: the test job does not hand its own _build/html to Pages")
    assert publish["needs"] == "test", f"{path.name}: publishing does not wait for the tests"
    assert not any("run" in step for step in publish["steps"]), (
        f"{path.name}: the publish job builds something of its own")
