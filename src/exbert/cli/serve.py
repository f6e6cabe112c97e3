"""``exbert serve`` (the browser app and the HTTP API) and ``exbert prepare`` (convert the
default models and build their demo corpora once).

    exbert serve --model smollm2-135m --model ./my-bert-folder --port 5050
    exbert serve --model minilm-l6 --corpus corpora/holmes
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exbert.cli.options import MODEL_HELP, add_command, add_max_tokens
from exbert.errors import ExbertError, InvalidRequest

DEFAULT_MODELS = ("smollm2-135m", "minilm-l6")


def add_parsers(subparsers: Any) -> None:
    p = add_command(subparsers, "serve", run_serve,
                    help="serve the browser app and the HTTP API")
    p.add_argument("--model", action="append", dest="models", metavar="NAME",
                   help=f"a model to serve: {MODEL_HELP} (repeatable; default: "
                        f"{', '.join(DEFAULT_MODELS)})")
    p.add_argument("--corpus", action="append", dest="corpora", default=[], metavar="DIR",
                   help="a corpus folder built by `exbert corpus build` (repeatable)")
    p.add_argument("--no-demo-corpus", action="store_true",
                   help="do not serve the cached demo corpora of the default models")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=5050, help="port (default %(default)s)")
    p.add_argument("--token", help="access token (generated when serving beyond loopback)")
    add_max_tokens(p)

    p = add_command(subparsers, "prepare", run_prepare,
                    help="convert the default models and build demo corpora once")
    p.add_argument("--model", action="append", dest="models", metavar="NAME",
                   help=f"a model to prepare (repeatable; default: {', '.join(DEFAULT_MODELS)})")
    p.add_argument("--no-corpus", action="store_true", help="do not build the demo corpora")


def access_token(host: str, token: str | None) -> str | None:
    """The token a server on ``host`` requires: none on loopback unless given; beyond
    loopback always one (generated when not given), so it never serves a network openly."""
    import secrets

    from exbert.server.security import is_loopback

    if token is not None and not token.strip():
        raise InvalidRequest("--token must not be empty")
    if token or is_loopback(host):
        return token
    return secrets.token_urlsafe(24)


def run_serve(args: argparse.Namespace) -> int:
    """Load the models and corpora, then serve until interrupted."""
    token = access_token(args.host, args.token)
    import uvicorn

    from exbert.models import load
    from exbert.server import ServerConfig, create_app

    models = {}
    for name in args.models or DEFAULT_MODELS:
        model = load(name, max_tokens=args.max_tokens)
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
    """The corpora given with ``--corpus`` (each must open), else the cached demo corpora of
    the served models (one that does not open is skipped with a warning)."""
    if not args.corpora and args.no_demo_corpus:
        return {}
    from exbert.search.serving import open_for_server

    if args.corpora:
        corpora: dict[str, Any] = open_for_server(list(args.corpora), models)
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
            print(f"{args.prog}: skipping the demo corpus of {name}: {exc.message}",
                  file=sys.stderr)
    return found


def run_prepare(args: argparse.Namespace) -> int:
    """Convert each model once (GGUF -> safetensors cache) and build its demo corpus once."""
    import time

    from exbert.corpus import demo
    from exbert.models import load

    for name in args.models or DEFAULT_MODELS:
        t0 = time.perf_counter()
        model = load(name)
        print(f"{name}: model ready ({time.perf_counter() - t0:.1f} s)", flush=True)
        if not args.no_corpus:
            t0 = time.perf_counter()
            folder = demo.ensure_demo_corpus(name, model=model)
            print(f"{name}: demo corpus ready in {folder} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
    return 0
