"""Sphinx extension: include each script of a page once.

With the Sphinx version the book pins, sphinx-thebe's configuration script
(`const THEBE_JS_URL = ...`) and sphinx-togglebutton's reach every page twice, at two
priorities, and the second `const` throws "Identifier 'THEBE_JS_URL' has already been
declared" in every reader's browser console. This keeps the first copy of each script.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in sorted(context.get("script_files", []), key=lambda js: js.priority):
        key = (str(script.filename or ""), tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # Late, after the extensions that add scripts to the page context.
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
