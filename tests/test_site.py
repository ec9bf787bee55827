"""Checks of the built website in _build/html (run after `jupyter-book build`).

They catch what a green build can still hide: figures that silently vanished (a
non-interactive MPLBACKEND does that), a Colab button pointing at the wrong file, a
missing download, search or bibliography.
"""

import json
import re

import pytest
from bs4 import BeautifulSoup

from book import (HTML, ROOT, chapters, code_cells, config, requirement_pins, source_hash,
                  toc_pages)

CHAPTERS = chapters()
IDS = [p.name for p in CHAPTERS]


def page(relpath):
    path = HTML / f"{relpath}.html"
    assert path.exists(), f"{path.relative_to(ROOT)} was not built: run `make book`"
    return BeautifulSoup(path.read_text(), "html.parser")


@pytest.mark.parametrize("relpath", toc_pages())
def test_every_toc_page_is_built_with_search_and_copy_button(relpath):
    soup = page(relpath)
    scripts = " ".join(s.get("src", "") for s in soup.find_all("script"))
    assert "copybutton" in scripts, f"{relpath}.html has no copy button script"
    assert soup.find("button", class_="search-button") or soup.find(
        "form", class_="bd-search"
    ), f"{relpath}.html has no search box"


def test_index_opens_the_book():
    index = (HTML / "index.html").read_text()
    assert "book/intro.html" in index, "_build/html/index.html does not lead to the intro page"


def test_search_page_and_index_exist():
    assert (HTML / "search.html").exists(), "no search.html in the built site"
    index = (HTML / "searchindex.js").read_text().lower()
    assert "hessian" in index, "the search index does not know the word 'hessian' (chapter 1)"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_colab_button_opens_this_chapters_ipynb(md):
    settings = config()
    url = settings["repository"]["url"].rstrip("/")
    branch = settings["repository"]["branch"]
    org_repo = url.split("github.com/")[1]
    rel = md.relative_to(ROOT)
    expected = (
        f"{settings['launch_buttons']['colab_url'].rstrip('/')}/github/{org_repo}/blob/"
        f"{branch}/{rel.with_suffix('.ipynb')}"
    )
    soup = page(rel.with_suffix(""))
    links = [a.get("href", "") for a in soup.find_all("a")]
    assert expected in links, f"{rel}: no Colab link {expected}; Colab links found: " + str(
        [link for link in links if "colab" in link]
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_the_page_shows_the_tested_run(md):
    """The page's notebook (its download) is the one nbval executed and passed, on the
    pinned stack, from the chapter's current source: the site shows the tested run."""
    rel = md.relative_to(ROOT)
    soup = page(rel.with_suffix(""))
    target = f"_sources/{rel.with_suffix('.ipynb')}"
    hrefs = {a.get("href", "") for a in soup.find_all("a")}
    assert any(h.endswith(target) for h in hrefs), f"{rel}: no download link to {target}"
    shown = json.loads((HTML / target).read_text())
    stamp = shown["metadata"].get("maml_book", {})
    assert stamp.get("executed_by") == "nbval", f"{target} was not executed by the book's test"
    assert not stamp.get("colab_stand_in"), f"{target} comes from the Colab stack's run"
    source = json.loads(rel.with_suffix(".ipynb").read_text())
    assert stamp.get("source_sha256") == source_hash(source), (
        f"{target} was executed from another version of {rel.with_suffix('.ipynb')}")
    code = [c for c in shown["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), f"{target}: a code cell did not run"
    pins = requirement_pins()
    assert (stamp.get("jax"), stamp.get("numpy")) == (pins["jax"], pins["numpy"]), (
        f"{target} ran on jax {stamp.get('jax')}, numpy {stamp.get('numpy')}; "
        f"requirements.txt pins {pins['jax']}, {pins['numpy']}")


FIGURE_PAGES = [ROOT / f"{p}.md" for p in toc_pages()
                if "```{figure}" in (ROOT / f"{p}.md").read_text()]


@pytest.mark.parametrize("md", FIGURE_PAGES, ids=[p.name for p in FIGURE_PAGES])
def test_drawn_figures_are_shown_with_their_alt_text(md):
    """Each {figure} asset of a page (the idea of MAML, say) is in the built page, copied
    next to it, and described by its alt text."""
    rel = md.relative_to(ROOT)
    wanted = re.findall(r"^```\{figure\} (\S+)", md.read_text(), flags=re.M)
    soup = page(rel.with_suffix(""))
    for asset in wanted:
        name = asset.rsplit("/", 1)[-1]
        imgs = [img for img in soup.find_all("img") if img.get("src", "").endswith(name)]
        assert imgs, f"{rel}: the figure {asset} is not on the built page"
        for img in imgs:
            target = (HTML / rel.parent / img["src"]).resolve()
            assert target.exists() and target.stat().st_size > 1000, (
                f"{rel}: {img['src']} is missing from the site")
            assert len(img.get("alt", "")) > 40, f"{rel}: {asset} has no alt text"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_figures_are_in_the_page(md):
    """Every cell that shows a figure has an image in its output on the page."""
    expected = sum(cell.count("plt.show()") for cell in code_cells(md))
    rel = md.relative_to(ROOT)
    soup = page(rel.with_suffix(""))
    images = [
        img for out in soup.find_all(class_="cell_output") for img in out.find_all("img")
    ]
    assert len(images) >= expected, (
        f"{rel}: {expected} figures expected from plt.show(), {len(images)} on the page "
        "(is MPLBACKEND set to a non-interactive backend?)"
    )
    for img in images:
        src = img["src"]
        if not src.startswith("data:"):
            target = (HTML / rel.parent / src).resolve()
            assert target.exists() and target.stat().st_size > 1000, f"{rel}: image {src} is missing"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_math_is_marked_for_typesetting(md):
    rel = md.relative_to(ROOT)
    soup = page(rel.with_suffix(""))
    scripts = " ".join(s.get("src", "") for s in soup.find_all("script"))
    assert "mathjax" in scripts.lower(), f"{rel}: the page does not load MathJax"
    assert soup.find(class_="math"), f"{rel}: no math found on the page"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_no_tracebacks_or_stderr_in_outputs(md):
    """Error messages a chapter prints on purpose are fine; a traceback or stderr is not."""
    rel = md.relative_to(ROOT)
    soup = page(rel.with_suffix(""))
    for kind in ("traceback", "stderr"):
        found = soup.select(f".cell_output .{kind}")
        assert not found, f"{rel}: a cell shows {kind} output: {found[0].get_text()[:300]}"


def test_bibliography_page_lists_the_maml_paper():
    soup = page("book/references")
    assert "Model-Agnostic Meta-Learning" in soup.get_text(), "the bibliography lacks Finn et al."


def test_chapter_one_cites_the_maml_paper():
    soup = page("book/01_gradients")
    links = [a.get("href", "") for a in soup.find_all("a")]
    assert any(re.search(r"references\.html#", h) for h in links), (
        "book/01_gradients.html has no citation linking to the bibliography"
    )
