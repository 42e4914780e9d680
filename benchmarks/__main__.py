"""Run every benchmark and print one table: figure, anchor, ratio, target.

    python -m benchmarks            # full run (minutes)
    python -m benchmarks --quick    # reduced run (under a minute)
    python -m benchmarks --only decode,live --json results.json
    python -m benchmarks --from results.json --markdown   # a saved run, as Markdown

Each ``benchmarks/bench_*.py`` module exposes ``main(quick: bool) -> list[dict]`` whose
rows have ``name, value, unit, anchor, anchor_value, ratio, target``. Anchors are measured
side by side in the same process and run, so ratios are comparable on a noisy machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import benchmarks

COLUMNS = ("name", "value", "unit", "anchor", "anchor_value", "ratio", "target")


def discover() -> list[str]:
    """Names of the benchmark modules (``bench_*``), sorted."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    cells = [[_fmt(row.get(c)) for c in COLUMNS] for row in rows]
    widths = [
        max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(COLUMNS)
    ]
    line = "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def print_markdown(rows: list[dict[str, Any]]) -> None:
    """The table as Markdown (what ``docs/performance.md`` holds)."""
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(_fmt(r.get(c)).replace("|", "\\|") for c in COLUMNS) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="reduced run, under a minute")
    parser.add_argument(
        "--only", default="", help="comma-separated module suffixes, e.g. decode,live"
    )
    parser.add_argument(
        "--json", default="benchmarks/results/latest.json", help="where to write rows"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--from", dest="saved", default="", help="print a saved JSON run instead of running"
    )
    args = parser.parse_args(argv)
    show = print_markdown if args.markdown else print_table
    if args.saved:
        show(json.loads(Path(args.saved).read_text())["rows"])
        return 0

    wanted = {f"bench_{name.strip()}" for name in args.only.split(",") if name.strip()}
    rows: list[dict[str, Any]] = []
    failed = []
    for name in discover():
        if wanted and name not in wanted:
            continue
        started = time.perf_counter()
        print(f"# {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            for row in module.main(quick=args.quick):
                rows.append({"module": name, **row})
        except Exception:  # one broken benchmark must not hide the others
            failed.append(name)
            traceback.print_exc()
        print(f"# {name} took {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)

    show(rows)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "quick": args.quick,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    print(f"\nwrote {out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
