"""The ``exbert`` command: a thin layer over the library. Imports stay light until a
subcommand runs, so ``exbert --help`` is instant."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from exbert.argtypes import int_list
from exbert.errors import ExbertError

DEFAULT_MODELS = ("smollm2-135m", "minilm-l6")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exbert", description="Look inside transformer language models."
    )
    parser.add_argument("--version", action="version", version="exbert 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("analyze", help="analyse a text and print tokens, predictions, attention")
    p.add_argument("text")
    p.add_argument("--model", default="smollm2-135m", help="alias, folder, .gguf or hub id")
    p.add_argument("--text-b", help="second sentence of a pair")
    p.add_argument("--mask", type=int_list, default=[], help="token positions to mask: 2,5")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--layer", type=int, default=-1, help="layer of the attention summary")
    p.add_argument("--kind", choices=("bidirectional", "autoregressive"))
    p.add_argument("--max-tokens", type=int, default=512, help="token cap (memory ~ T^2)")
    p.add_argument("--json", action="store_true", help="print the whole analysis as JSON")

    p = sub.add_parser("info", help="describe a model")
    p.add_argument("model")
    p.add_argument("--kind", choices=("bidirectional", "autoregressive"))

    sub.add_parser("models", help="list the shipped models")

    p = sub.add_parser("serve", help="serve the browser app and the HTTP API")
    p.add_argument("--model", action="append", dest="models", metavar="NAME",
                   help=f"a model to serve (repeatable; default: {', '.join(DEFAULT_MODELS)})")
    p.add_argument("--corpus", action="append", dest="corpora", default=[], metavar="DIR",
                   help="a corpus folder built by `exbert corpus build` (repeatable)")
    p.add_argument("--no-demo-corpus", action="store_true",
                   help="do not serve the cached demo corpora of the default models")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5050)
    p.add_argument("--token", help="access token (generated when serving beyond loopback)")
    p.add_argument("--max-tokens", type=int, default=512)

    p = sub.add_parser("prepare", help="convert the default models and build demo corpora once")
    p.add_argument("--model", action="append", dest="models", metavar="NAME")
    p.add_argument("--no-corpus", action="store_true")

    # subcommands that live beside their library code (light modules: no torch at import)
    from exbert.corpus import cli as corpus_cli
    from exbert.export import cli as export_cli

    corpus_cli.add_parser(sub)
    export_cli.add_parser(sub)
    return parser


def cmd_analyze(args: argparse.Namespace) -> int:
    import exbert

    model = exbert.load(args.model, kind=args.kind, max_tokens=args.max_tokens)
    a = model.analyze(args.text, text_b=args.text_b, mask=args.mask, top_k=args.top_k)
    if args.json:
        sys.stdout.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
        return 0
    info = model.info
    print(f"{info.name}: {info.kind}, {info.layers} layers x {info.heads} heads, "
          f"{len(a.tokens)} tokens")
    where = "next token" if info.kind == "autoregressive" else "at token"
    layer = args.layer if args.layer >= 0 else info.layers + args.layer
    print(f"\n{'#':>3}  {'token':<16} {'attends most to (layer ' + str(layer) + ')':<28} "
          f"predictions ({where})")
    for i, (tok, target, weight) in enumerate(a.summary(layer=layer)):
        preds = ""
        if a.predictions is not None:
            preds = "  ".join(f"{p.token!r} {p.prob:.2f}" for p in a.predictions[i][:3])
        mark = "*" if tok.masked else ""
        print(f"{i:>3}  {tok.text!r:<16} {target.text!r:<20} {weight:6.2f}  {preds}{mark}")
    if a.predictions is None:
        print(f"\n{a.predictions_unavailable}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import exbert

    info = exbert.load(args.model, kind=args.kind).info
    print(json.dumps(info.to_dict(), indent=2))
    return 0


def cmd_models(_: argparse.Namespace) -> int:
    from exbert.models import SHIPPED

    for m in SHIPPED.values():
        print(f"{m.alias:<14} {m.description}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Convert each model once (GGUF -> safetensors cache) and build its demo corpus once."""
    import time

    import exbert
    from exbert.corpus import demo

    for name in args.models or DEFAULT_MODELS:
        t0 = time.perf_counter()
        model = exbert.load(name)
        print(f"{name}: model ready ({time.perf_counter() - t0:.1f} s)", flush=True)
        if not args.no_corpus:
            t0 = time.perf_counter()
            folder = demo.ensure_demo_corpus(name, model=model)
            print(f"{name}: demo corpus ready in {folder} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
    return 0


def access_token(host: str, token: str | None) -> str | None:
    """The token a server on ``host`` requires: none on loopback unless given; beyond
    loopback always one (generated when not given), so it never serves a network openly."""
    import secrets

    from exbert.server.security import is_loopback

    if token is not None and not token.strip():
        raise ExbertError("--token must not be empty")
    if token or is_loopback(host):
        return token
    return secrets.token_urlsafe(24)


def cmd_serve(args: argparse.Namespace) -> int:
    token = access_token(args.host, args.token)
    import uvicorn

    import exbert
    from exbert.server import ServerConfig, create_app

    names = args.models or list(DEFAULT_MODELS)
    models = {}
    for name in names:
        model = exbert.load(name, max_tokens=args.max_tokens)
        models[model.name] = model
    corpora = _load_corpora(args, models)
    config = ServerConfig(host=args.host, port=args.port, token=token)
    app = create_app(models, corpora=corpora, config=config)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/" + (f"?token={token}" if token else "")
    print(f"exbert is serving {', '.join(models)} at {url}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _load_corpora(args: argparse.Namespace, models: dict[str, Any]) -> dict[str, Any]:
    if not args.corpora and args.no_demo_corpus:
        return {}
    from exbert.corpus import open_for_server

    dirs = list(args.corpora)
    if dirs:
        corpora: dict[str, Any] = open_for_server(dirs, models)  # asked for: must open
        return corpora
    from exbert.corpus import demo

    found: dict[str, Any] = {}
    for name in models:
        folder = demo.existing_demo_corpus(name)
        if folder is None:
            continue
        try:
            found.update(open_for_server([folder], models))
        except ExbertError as exc:  # a stale cache must not stop the server
            print(f"exbert: skipping the demo corpus of {name}: {exc.message}", file=sys.stderr)
    return found


COMMANDS = {
    "analyze": cmd_analyze,
    "info": cmd_info,
    "models": cmd_models,
    "serve": cmd_serve,
    "prepare": cmd_prepare,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler = COMMANDS.get(args.command) or args.run
        return int(handler(args) or 0)
    except ExbertError as exc:
        print(f"exbert: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
