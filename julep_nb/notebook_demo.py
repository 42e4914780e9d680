"""The notebook demo behind ``make demo``: ``python -m julep_nb.notebook_demo``.

With a display it opens ``notebooks/01_quickstart.ipynb`` in JupyterLab (the magics use
the embedded local server: no account, no network). With no display (no ``DISPLAY`` /
``WAYLAND_DISPLAY``, ``CI`` set, ``--headless`` or ``JULEP_NB_HEADLESS=1``) it executes
the quickstart in a real kernel instead, writes the executed notebook and an HTML copy
under ``build/demo/``, prints where, and exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["execute_notebook", "export_html", "main", "wants_headless"]

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "notebooks" / "01_quickstart.ipynb"
OUT_DIR = ROOT / "build" / "demo"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def wants_headless(flag: bool = False, environ: dict[str, str] | None = None) -> bool:
    """True when there is no display to open JupyterLab in, or headless was asked for."""
    env = os.environ if environ is None else environ
    if flag or env.get("JULEP_NB_HEADLESS", "") not in ("", "0"):
        return True
    if env.get("CI", "").lower() in ("1", "true", "yes"):
        return True
    if sys.platform in ("darwin", "win32"):
        return False  # these always have a desktop when someone runs `make demo`
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _kernel_manager(workdir: str) -> Any:
    """A kernel on local sockets: no TCP port, and no "without encryption" warning."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    if os.name == "posix":
        manager.transport = "ipc"
        manager.ip = os.path.join(workdir, "kernel")
    return manager


def execute_notebook(
    src: Path, dst: Path, *, timeout: int = 120, skip_tag: str = "skip-execution"
) -> Path:
    """Run ``src`` top to bottom in a real kernel (unattended) and write it to ``dst``.

    Cells tagged ``skip_tag`` are left unexecuted.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(src, as_version=4)
    previous = os.environ.get("JULEP_NB_UNATTENDED")
    os.environ["JULEP_NB_UNATTENDED"] = "1"  # the notebooks answer their own forms
    try:
        with tempfile.TemporaryDirectory(prefix="julep-nb-kernel-") as workdir:
            manager = _kernel_manager(workdir)
            client = NotebookClient(
                nb,
                km=manager,
                timeout=timeout,
                resources={"metadata": {"path": str(src.parent)}},
                skip_cells_with_tag=skip_tag,
            )
            try:
                client.execute()
            finally:  # a kernel manager passed in is ours to stop
                if manager.has_kernel:
                    manager.shutdown_kernel()
    finally:
        if previous is None:
            os.environ.pop("JULEP_NB_UNATTENDED", None)
        else:
            os.environ["JULEP_NB_UNATTENDED"] = previous
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    return dst


def export_html(notebook: Path, dst: Path) -> Path:
    """An HTML copy that shows each panel's final static HTML (no widget JavaScript)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # no widget JavaScript: the static HTML shows
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
    body, _ = HTMLExporter().from_notebook_node(nb)
    dst.write_text(body, encoding="utf-8")
    return dst


def run_headless(src: Path = QUICKSTART, out_dir: Path = OUT_DIR) -> Path:
    """Execute ``src`` headless; return the HTML copy's path."""
    executed = execute_notebook(src, out_dir / src.name)
    return export_html(executed, executed.with_suffix(".html"))


def open_lab(src: Path = QUICKSTART) -> int:
    """Open ``src`` in JupyterLab (blocks until JupyterLab exits)."""
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    print(f"Opening {src.relative_to(ROOT)} in JupyterLab (Ctrl+C to stop).")
    return subprocess.call([jupyter, "lab", str(src)], cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``make demo``)."""
    parser = argparse.ArgumentParser(description="Open or run the julep_nb quickstart.")
    parser.add_argument("--headless", action="store_true", help="execute and write HTML")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="headless output folder")
    args = parser.parse_args(argv)
    if not wants_headless(args.headless):
        return open_lab()
    print(f"No display (or --headless): running {QUICKSTART.relative_to(ROOT)} headless…")
    html = run_headless(QUICKSTART, args.out.resolve())
    print(f"Executed notebook: {html.with_suffix('.ipynb')}")
    print(f"HTML copy:         {html}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
