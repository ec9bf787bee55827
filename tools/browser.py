"""The browser side of the site tests, shared with tools/readme_screenshot.py: a local
server for _build/html and headless Chromium (set CHROMIUM to use another Chromium or
Chrome)."""

import functools
import http.server
import os
import pathlib
import threading

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Chromium flags for a sandboxed, offline machine: no GPU, no calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    """Serve a folder on a free local port; returns the server and its base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def launch(playwright):
    """Chromium, headless, as configured by CHROMIUM."""
    if not pathlib.Path(CHROMIUM).exists():
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package "
            "(`make test-site` does this when run as root) or set CHROMIUM=/path/to/chrome"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
