"""``exbert export``: one analysis as a self-contained HTML file, an SVG or a PNG figure.

    exbert export "The cat sat on the mat." --model minilm-l6 --out view.html
    exbert export "The capital of France is" --model smollm2-135m --layer 5 --heads 0,3 \\
        --out fig.svg
    exbert export "..." --model minilm-l6 --out fig.png --scale 3 --background transparent

Registered by ``exbert.cli`` when this module exists; imports nothing heavy until it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from exbert.argtypes import float_list, int_list

FORMATS = ("html", "svg", "png")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="write one analysis as a self-contained HTML view, an SVG or a PNG figure",
        description="Analyse TEXT and write the attention view: .html (interactive, opens from "
        "disk with no server or network), .svg or .png (figures drawn by the same JavaScript "
        "in headless Chromium).",
    )
    p.add_argument("text")
    p.add_argument("--model", default="smollm2-135m", help="alias, folder, .gguf or hub id")
    p.add_argument("--text-b", help="second sentence of a pair")
    p.add_argument("--mask", type=int_list, default=[], help="token positions to mask: 2,5")
    p.add_argument("--layer", type=int, default=0,
                   help="layer shown (0-based; negative counts from the end)")
    p.add_argument("--heads", type=int_list, help="heads combined: 0,3 (default all)")
    p.add_argument("--weights", type=float_list, help="weights of the --heads: 2,1")
    p.add_argument("--show-special", action="store_true", help="show special tokens")
    p.add_argument("--threshold", type=float, default=0.7,
                   help="share of each row's attention the drawn edges cover (default 0.7)")
    p.add_argument("--layers", type=int_list,
                   help="HTML: only store these layers (default all; the file grows with them)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--kind", choices=("bidirectional", "autoregressive"))
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--out", "-o", default="exbert-view.html",
                   help="output file; its suffix (.html, .svg, .png) picks the format")
    p.add_argument("--format", choices=FORMATS, help="override the format given by --out")
    p.add_argument("--background", default="white",
                   help="SVG/PNG background: white, transparent or a CSS colour")
    p.add_argument("--no-legend", action="store_true", help="SVG/PNG without the legend")
    p.add_argument("--scale", type=float, default=2, help="PNG pixels per SVG unit (default 2)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import exbert
    from exbert.errors import InvalidRequest

    out = Path(args.out)
    fmt = args.format or out.suffix.lower().lstrip(".")
    if fmt == "htm":
        fmt = "html"
    if fmt not in FORMATS:
        raise InvalidRequest(
            f"cannot tell the format from {out.name!r}: use --out NAME.html, .svg or .png, "
            "or --format"
        )
    model = exbert.load(args.model, kind=args.kind, max_tokens=args.max_tokens)
    view: dict[str, Any] = {
        "text_b": args.text_b,
        "mask": args.mask,
        "layer": args.layer,
        "heads": args.heads,
        "weights": args.weights,
        "hide_special": not args.show_special,
        "threshold": args.threshold,
        "top_k": args.top_k,
    }
    if fmt == "html":
        exbert.export_html(model, args.text, layers=args.layers, out=out, **view)
    elif fmt == "svg":
        exbert.export_svg(
            model, args.text, background=args.background, legend=not args.no_legend, out=out,
            **view,
        )
    else:
        exbert.export_png(
            model, args.text, background=args.background, legend=not args.no_legend,
            scale=args.scale, out=out, **view,
        )
    size = out.stat().st_size
    print(f"wrote {out} ({fmt}, {size / 1024:.0f} KiB)", file=sys.stderr)
    return 0
