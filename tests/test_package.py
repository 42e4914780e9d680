"""The public surface: sorted __all__ that matches the real exports, a light import."""

from __future__ import annotations

import subprocess
import sys

import julep_nb


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert set(julep_nb._LAZY) <= set(julep_nb.__all__)
    assert julep_nb.__all__ == sorted(julep_nb.__all__)
    for name in julep_nb.__all__:
        assert getattr(julep_nb, name) is not None, name


def test_public_names_are_exactly_all() -> None:
    import types

    public = {
        n
        for n in dir(julep_nb)
        if not n.startswith("_") and not isinstance(getattr(julep_nb, n, None), types.ModuleType)
    }
    public -= {"TYPE_CHECKING", "Any", "annotations"}
    public |= {"__version__"}
    assert public == set(julep_nb.__all__)


def test_version() -> None:
    assert julep_nb.__version__.count(".") == 2


def test_import_is_light() -> None:
    code = (
        "import sys, julep_nb; "
        "heavy = [m for m in "
        "('IPython', 'ipywidgets', 'fastapi', 'uvicorn', 'starlette', 'ipykernel') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importtime_shows_no_heavy_module() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import julep_nb"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.stderr.splitlines()}
    assert not imported & {"IPython", "ipywidgets", "fastapi", "uvicorn"}
