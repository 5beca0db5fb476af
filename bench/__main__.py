"""`python -m bench NAME [ARGS…]` runs the benchmark module `bench.NAME` (its `main(argv)`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def _available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = _available()
    if not argv or argv[0] not in names:
        print(f"usage: python -m bench {{{'|'.join(names)}}} [args…]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


raise SystemExit(main(sys.argv[1:]))
