"""Take the README's screenshot of the built book: `make screenshot` (after `make book`).

    python tools/readme_screenshot.py [page#section-id] [output.png]
"""

import pathlib
import sys

from playwright.sync_api import sync_playwright

from book import HTML, ROOT
from browser import launch, serve

PAGE = "book/03_maml.html#the-maml-objective"
OUTPUT = ROOT / "assets" / "screenshot.png"


def main(page=PAGE, output=OUTPUT):
    if not (HTML / "index.html").exists():
        sys.exit("error: _build/html is not built: run `make book` first")
    server, site = serve(HTML)
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            tab = browser.new_page(viewport={"width": 1280, "height": 800})
            path, _, section = page.partition("#")
            tab.goto(site + path, wait_until="networkidle")
            tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            tab.evaluate("() => MathJax.startup.promise")
            if section:  # scrolled to, not linked (a link would highlight the heading)
                tab.evaluate(f"() => document.getElementById({section!r}).scrollIntoView()")
            tab.screenshot(path=str(output))
            browser.close()
    finally:
        server.shutdown()
    print(f"wrote {pathlib.Path(output).resolve()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
