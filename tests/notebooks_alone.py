"""Run every chapter's .ipynb with nbval, each alone in an empty folder.

This is the closest thing to Colab on a local machine: the notebook sees no other file of
the repository, so a chapter that secretly imports or reads one fails here. Each cell is
executed once; the chapters' asserts are what make it a test (nbval-lax compares no
stored outputs).

    python tests/notebooks_alone.py [book/02_x.ipynb ...]   (default: every chapter)
"""

import pathlib
import shutil
import subprocess
import sys
import tempfile

from book_files import ROOT, chapters


def main(argv):
    notebooks = [pathlib.Path(a).resolve() for a in argv] or [
        md.with_suffix(".ipynb") for md in chapters()
    ]
    with tempfile.TemporaryDirectory(prefix="maml-book-alone-") as tmp:
        copies = []
        for notebook in notebooks:
            if not notebook.exists():
                sys.exit(f"error: {notebook} does not exist (run `make sync`)")
            folder = pathlib.Path(tmp) / notebook.stem
            folder.mkdir()
            copies.append(str(shutil.copy(notebook, folder)))
            print(f"{notebook.relative_to(ROOT)} -> {copies[-1]} (alone)")
        command = [
            sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
            "--nbval-cell-timeout=900", "-p", "no:cacheprovider", "-v", *copies,
        ]
        return subprocess.call(command, cwd=tmp)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
