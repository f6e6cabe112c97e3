"""The committed API contract: ``docs/openapi.json`` is generated from the server's code, and
the frontend's types (``frontend/src/api/schema.d.ts``) from it; the frontend's defaults and
limits (``frontend/src/api/limits.ts``) are generated from :mod:`exbert.view`. ``make api``
regenerates them; a test fails when any drifts.

    python -m exbert.server.openapi docs/openapi.json      # write the schema
    python -m exbert.server.openapi --limits frontend/src/api/limits.ts
    python -m exbert.server.openapi --check docs/openapi.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def schema() -> dict[str, Any]:
    """The OpenAPI schema of an app that serves no model (no example names in it)."""
    from exbert.server.app import create_app

    out: dict[str, Any] = create_app({}).openapi()
    return out


def render() -> str:
    """:func:`schema` as stable text: sorted keys, two-space indent, final newline."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_limits() -> str:
    """The numeric constants of :mod:`exbert.view` (defaults and limits) as a TypeScript
    module, so that the browser app and the widget use the library's own values."""
    from exbert import view

    lines = ["// Generated from src/exbert/view.py by `make api`; do not edit.", ""]
    for name in sorted(n for n in vars(view) if n.isupper() and not n.startswith("_")):
        value = getattr(view, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            lines.append(f"export const {name} = {value!r};")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exbert.server.openapi")
    parser.add_argument("path", type=Path,
                        help="the file to write or check (docs/openapi.json)")
    parser.add_argument("--limits", action="store_true",
                        help="the file is the frontend's limits module, not the schema")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the file differs from what the code generates")
    args = parser.parse_args(argv)
    text = render_limits() if args.limits else render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.is_file() else ""
        if current != text:
            print(f"{args.path} is out of date: run `make api`", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
