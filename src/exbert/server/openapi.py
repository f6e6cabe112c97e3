"""The committed API contract: ``docs/openapi.json`` is generated from the server's code, and
the frontend's types (``frontend/src/api/schema.d.ts``) from it. ``make api`` regenerates
both; a test fails when either drifts.

    python -m exbert.server.openapi docs/openapi.json      # write
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exbert.server.openapi")
    parser.add_argument("path", type=Path, help="the schema file (docs/openapi.json)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the file differs from the code's schema")
    args = parser.parse_args(argv)
    text = render()
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
