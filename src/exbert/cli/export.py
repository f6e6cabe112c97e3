"""``exbert export``: one analysis as a self-contained HTML file, an SVG or a PNG figure.

    exbert export "The cat sat on the mat." --model minilm-l6 --out view.html
    exbert export "The capital of France is" --model smollm2-135m --layer 5 --heads 0,3 \\
        --out fig.svg
    exbert export "..." --model minilm-l6 --out fig.png --scale 3 --background transparent
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from exbert.cli.options import (
    add_analysis,
    add_command,
    add_kind,
    add_max_tokens,
    add_model,
    add_view,
    analysis_kwargs,
    int_list,
    load_kwargs,
    view_kwargs,
)
from exbert.errors import InvalidRequest

FORMATS = ("html", "svg", "png")


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers, "export", run_export,
        help="write one analysis as a self-contained HTML view, an SVG or a PNG figure",
        description="Analyse TEXT and write the attention view: .html (interactive, opens from "
        "disk with no server or network), .svg or .png (figures drawn by the same JavaScript "
        "in headless Chromium).",
    )
    p.add_argument("text")
    add_model(p)
    add_analysis(p)
    add_view(p)
    p.add_argument("--layers", type=int_list, metavar="L,L",
                   help="HTML: only store these layers (0-based transformer layers as "
                        "--layer; default all; the file grows with them)")
    p.add_argument("--no-lenses", action="store_true",
                   help="HTML: leave out the lenses (logit lens, head detectors, rollout)")
    add_kind(p)
    add_max_tokens(p)
    p.add_argument("--out", "-o", default="exbert-view.html",
                   help="output file; its suffix (.html, .svg, .png) picks the format "
                        "(default %(default)s)")
    p.add_argument("--format", choices=FORMATS, help="override the format given by --out")
    p.add_argument("--background", default="white",
                   help="SVG/PNG background: white, transparent or a CSS colour "
                        "(default %(default)s)")
    p.add_argument("--no-legend", action="store_true", help="SVG/PNG without the legend")
    p.add_argument("--scale", type=float, default=2,
                   help="PNG pixels per SVG unit (default %(default)s)")


def output_format(out: Path, given: str | None) -> str:
    """``--format``, else the suffix of ``--out`` (``.htm`` is HTML)."""
    fmt = given or out.suffix.lower().lstrip(".")
    fmt = "html" if fmt == "htm" else fmt
    if fmt not in FORMATS:
        raise InvalidRequest(
            f"cannot tell the format from {out.name!r}: use --out NAME.html, .svg or .png, "
            "or --format"
        )
    return fmt


def run_export(args: argparse.Namespace) -> int:
    """Write the view of ``TEXT`` to ``--out``; report the file on stderr."""
    from exbert.export import export_html, export_png, export_svg
    from exbert.models import load

    out = Path(args.out)
    fmt = output_format(out, args.format)
    model = load(args.model, **load_kwargs(args))
    view: dict[str, Any] = {**analysis_kwargs(args), **view_kwargs(args), "out": out}
    if fmt == "html":
        export_html(model, args.text, layers=args.layers, lenses=not args.no_lenses, **view)
    else:
        figure = {"background": args.background, "legend": not args.no_legend}
        if fmt == "svg":
            export_svg(model, args.text, **figure, **view)
        else:
            export_png(model, args.text, scale=args.scale, **figure, **view)
    print(f"wrote {out} ({fmt}, {out.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)
    return 0
