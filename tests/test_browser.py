"""The built website as a reader sees it: every page opened in headless Chromium.

`make test-site` runs this after building the book. A local web server serves
_build/html; Playwright drives Debian's Chromium (set CHROMIUM to use another
Chromium or Chrome). Every request that leaves the local server is refused, so a page
that needs the network to show its math or figures fails here. For each page we check
what a reader would notice: the title, typeset math, loaded figures, the Colab and
download links, search, and a clean browser console. A full-page screenshot of each page
goes to _build/screenshots/ for a look by eye.
"""

import functools
import json
import pathlib
import re
import urllib.parse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from book import HTML, ROOT, chapters, code_cells, config, toc_pages
from browser import launch, serve

SCREENSHOTS = ROOT / "_build" / "screenshots"
PAGES = toc_pages()
CHAPTERS = {str(md.relative_to(ROOT).with_suffix("")): md for md in chapters()}
# TeX that MathJax should have replaced: delimiters and common commands.
RAW_TEX = re.compile(
    r"\$\$|\$\\|\\[(\[]|\\(frac|theta|alpha|beta|varphi|nabla|mathcal|sum|begin|left)\b"
)
# Markdown that should have become HTML (a table rule, bold markers), in prose or outputs.
RAW_MARKDOWN = re.compile(r"\|\s*:?(-{3,}|\u2014+):?\s*\||\*\*\w")  # \u2014: smart dashes


@pytest.fixture(scope="session")
def site():
    """Base URL of _build/html served on a free local port."""
    if not (HTML / "index.html").exists():
        pytest.fail("_build/html is not built: run `make book` (or `make test-site`)")
    server, url = serve(HTML)
    yield url
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        try:
            browser = launch(playwright)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield browser
        browser.close()


class Visit:
    """One page opened in a fresh tab, with everything the browser complained about."""

    def __init__(self, browser, site, relpath):
        self.problems, self.site = [], site
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.route("**/*", functools.partial(self._only_local, site))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)
        self.page.goto(site + relpath, wait_until="load")

    def _only_local(self, site, route):
        if route.request.url.startswith(site) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            self.problems.append(f"request to the network: {route.request.url}")
            route.abort()

    def _console(self, message):
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _failed(self, request):
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def typeset(self):
        """Wait until MathJax has typeset the page; False if MathJax never started."""
        try:
            self.page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                timeout=15_000,
            )
        except PlaywrightTimeout:
            return False
        self.page.evaluate("() => MathJax.startup.promise")
        return True

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site):
    opened = []

    def open_page(relpath):
        opened.append(Visit(browser, site, relpath))
        return opened[-1]

    yield open_page
    for page in opened:
        page.close()


def heading(relpath):
    """The page's title as its source writes it (first '# ' line), without markup."""
    for line in (ROOT / f"{relpath}.md").read_text().splitlines():
        if line.startswith("# "):
            return re.sub(r"[`*]", "", line[2:]).strip()
    raise AssertionError(f"{relpath}.md has no '# ' title line")


@pytest.mark.parametrize("relpath", PAGES)
def test_page_as_a_reader_sees_it(visit, relpath):
    name = f"{relpath}.html"
    tab = visit(name)
    page = tab.page

    title, shown = heading(relpath), page.title().replace("\u2019", "'")  # Sphinx's smart quotes
    assert shown.startswith(title), f"{name}: title {page.title()!r}, expected {title!r}"

    has_math = page.locator(".math").count() > 0
    if has_math:
        assert tab.typeset(), f"{name}: the page has math but MathJax did not start:\n" + "\n".join(
            tab.problems
        )
    # Each math element was typeset, without TeX errors, and no raw TeX is left in the prose.
    untypeset = page.evaluate(
        "() => [...document.querySelectorAll('.math')]"
        ".filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80))"
    )
    assert not untypeset, f"{name}: {len(untypeset)} math elements not typeset, e.g. {untypeset[:3]}"
    errors = page.evaluate(
        # mjx-merror: a TeX syntax error; red mtext: an undefined command such as \thetaa.
        "() => [...document.querySelectorAll("
        "'mjx-merror, [data-mjx-error], mjx-assistive-mml mtext[mathcolor=\"red\"]')]"
        ".map(e => e.getAttribute('data-mjx-error') || e.textContent)"
    )
    assert not errors, f"{name}: MathJax could not typeset: {errors[:3]}"
    prose = page.evaluate(
        """() => {
            const article = document.querySelector('article') || document.body;
            const copy = article.cloneNode(true);
            copy.querySelectorAll('pre, code, mjx-container, script, style')
                .forEach(e => e.remove());
            return copy.textContent;
        }"""
    )  # Markdown outputs of cells stay in; printed (pre) outputs and code do not.
    raw = sorted({m.group(0) for m in RAW_TEX.finditer(prose)})
    assert not raw, f"{name}: raw TeX left in the visible text: {raw}"
    raw = sorted({m.group(0) for m in RAW_MARKDOWN.finditer(prose)})
    assert not raw, f"{name}: Markdown not rendered (a table or bold text shown raw): {raw}"

    # Every image on the page loaded and has a size.
    broken = page.evaluate(
        "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'))"
    )
    assert not broken, f"{name}: images that did not load: {broken}"

    check_links(tab, name)
    check_nothing_overflows(tab, name)
    if relpath in CHAPTERS:
        check_chapter(tab, relpath)

    page.wait_for_load_state("networkidle")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{pathlib.Path(relpath).name}.png", full_page=True)
    assert not tab.problems, f"{name}: the browser reported:\n" + "\n".join(tab.problems)


LINK_TARGETS = {}  # local page URL -> its HTML, fetched once for all pages


def check_links(tab, name):
    """Every link to a page of the book leads to a page that exists, and to its anchor."""
    page, site = tab.page, tab.site
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    broken = []
    for href in sorted({h for h in hrefs if h.startswith(site)}):
        url, _, anchor = href.partition("#")
        if url not in LINK_TARGETS:
            response = page.request.get(url)
            LINK_TARGETS[url] = response.text() if response.ok else None
        html = LINK_TARGETS[url]
        if html is None:
            broken.append(f"{href} (no such page)")
        elif anchor and not re.search(rf'id="{re.escape(urllib.parse.unquote(anchor))}"', html):
            broken.append(f"{href} (no such anchor)")
    assert not broken, f"{name}: broken links: {broken}"


def check_nothing_overflows(tab, name):
    """At a desktop window (1280 px), every code block, printed output and display equation
    fits its column: nothing hides behind a horizontal scroll bar."""
    wide = tab.page.evaluate(
        """() => {
            const found = [];
            const blocks = document.querySelectorAll(
                'article div.highlight pre, article .cell_output pre, article div.math, '
                + 'article mjx-container[display="true"]');
            for (const e of blocks) {
                if (e.scrollWidth > e.clientWidth + 1) {
                    const kind = e.matches('pre') ? 'code' : 'equation';
                    const text = (e.textContent || '').trim().split('\\n')
                        .sort((a, b) => b.length - a.length)[0] || '';
                    found.push(`${kind} ${e.scrollWidth} px in ${e.clientWidth} px: `
                               + text.slice(0, 90));
                }
            }
            return found;
        }"""
    )
    assert not wide, f"{name}: {len(wide)} blocks overflow their column:\n" + "\n".join(wide)


def check_chapter(tab, relpath):
    """The parts only a notebook page has: figures, Colab and download links."""
    page, name = tab.page, f"{relpath}.html"
    figures = sum(cell.count("plt.show()") for cell in code_cells(CHAPTERS[relpath]))
    shown = page.evaluate(
        "() => [...document.querySelectorAll('.cell_output img')]"
        ".filter(i => i.naturalWidth > 100 && i.getBoundingClientRect().height > 100).length"
    )
    assert shown >= figures, f"{name}: {figures} figures expected (plt.show()), {shown} shown"

    settings = config()
    repo = settings["repository"]["url"].rstrip("/").split("github.com/")[1]
    colab = settings["launch_buttons"]["colab_url"].rstrip("/")
    expected = f"{colab}/github/{repo}/blob/{settings['repository']['branch']}/{relpath}.ipynb"
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    found = [h for h in hrefs if "colab" in h]
    assert expected in hrefs, f"{name}: no Colab link {expected}; Colab links found: {found}"

    # The page's source is the executed notebook, so its download is the notebook with
    # the outputs shown on the page (Colab's button opens the repository's copy).
    download = page.locator("a.btn-download-source-button")
    assert download.count() == 1, f"{name}: no 'download' link for the notebook"
    url = download.evaluate("a => a.href")
    assert url.endswith(f"_sources/{relpath}.ipynb"), f"{name}: download link is {url}"
    response = page.request.get(url)
    assert response.ok, f"{name}: the download link {url} gives HTTP {response.status}"
    cells = json.loads(response.body())["cells"]
    assert len(cells) > 10, f"{name}: the downloaded notebook has only {len(cells)} cells"
    ran = [c for c in cells if c["cell_type"] == "code" and c.get("outputs")]
    assert ran, f"{name}: the downloaded notebook has no outputs"


def search(tab, site, word):
    """The pages the book's search page lists for a word."""
    page = tab.page
    page.goto(f"{site}search.html?q={urllib.parse.quote(word)}", wait_until="load")
    page.wait_for_function(
        "() => /Search finished|did not match/.test("
        "(document.querySelector('#search-results') || {}).textContent || '')",
        timeout=30_000,
    )
    links = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
    return {urllib.parse.urlparse(h).path.lstrip("/").removesuffix(".html") for h in links}


def search_word(relpath):
    """A word from the page's title for the search test (the longest one)."""
    return max(re.findall(r"[A-Za-z]+", heading(relpath)), key=len)


@pytest.mark.parametrize("relpath", PAGES)
def test_search_finds_the_page(browser, site, relpath):
    word = search_word(relpath)
    tab = Visit(browser, site, "search.html")
    try:
        found = search(tab, site, word)
        assert relpath in found, f"search for {word!r} does not list {relpath}.html: {sorted(found)}"
        assert not tab.problems, "search.html: the browser reported:\n" + "\n".join(tab.problems)
    finally:
        tab.close()


def test_search_for_hessian_finds_chapter_1(browser, site):
    tab = Visit(browser, site, "search.html")
    try:
        found = search(tab, site, "Hessian")
        assert "book/01_gradients" in found, f"search for 'Hessian' lists {sorted(found)}"
    finally:
        tab.close()
