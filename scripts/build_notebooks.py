"""Write ``notebooks/*.ipynb`` from the cell lists below, then execute them in place.

Usage: ``python scripts/build_notebooks.py [--no-run] [NAME ...]``. The notebooks are
committed with the outputs of this real run (nbclient, a real ipykernel, the embedded
local server), so GitHub and nbviewer show the final panels. Edit cells here, not in
the ``.ipynb`` files, so every notebook keeps the same shape.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_cells import NOTEBOOKS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"


def build(name: str, cells: list[tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
    """A notebook from (kind, source, tags) triples."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for index, (kind, source, tags) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = f"{name[:2]}-{index:02d}"  # stable ids: small diffs between runs
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    return nb


def execute(path: Path) -> None:
    """Run the notebook top to bottom in a real kernel and save its outputs in place."""
    from julep_nb.notebook_demo import execute_notebook

    # Without a key, cells that need hosted Julep are saved unexecuted (nbval skips them).
    skip = "skip-execution" if os.environ.get("JULEP_API_KEY") else "julep-needs-key"
    execute_notebook(path, path, timeout=120, skip_tag=skip)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names (default: all)")
    parser.add_argument("--no-run", action="store_true", help="write the cells only")
    args = parser.parse_args(argv)
    for name, cells in NOTEBOOKS.items():
        if args.names and not any(name.startswith(n) for n in args.names):
            continue
        path = NOTEBOOK_DIR / f"{name}.ipynb"
        nbformat.write(build(name, cells), path)
        if not args.no_run:
            execute(path)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
