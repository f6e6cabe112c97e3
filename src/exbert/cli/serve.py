"""``exbert serve`` (the browser app and the HTTP API) and ``exbert prepare`` (convert the
default models and build their demo corpora once).

    exbert serve --model smollm2-135m --model ./my-bert-folder --port 5050
    exbert serve --model minilm-l6 --corpus corpora/holmes
    exbert serve --model minilm-l6 --corpus /shared/big --ray 10.0.0.1:6379
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from typing import Any

from exbert.cli.options import MODEL_HELP, add_command, add_max_tokens
from exbert.errors import ExbertError, InvalidRequest

DEFAULT_MODELS = ("smollm2-135m", "minilm-l6")
# Also prepared (no demo corpus) by a plain `exbert prepare`: MiniLM with the masked-LM head
# that exbert fits (models/mlm_fit.py). Not a default model: on masked words its held-out
# accuracy is only a little above the unigram baseline (benchmarks/bench_mlm_head.py).
PREPARE_EXTRA = ("minilm-l6-mlm",)
MAX_REQUEST_HEAD = 256 * 1024  # bytes of a request line and headers (uvicorn's default: 16 KB)
DEFAULT_CACHE_SIZE = "2GB"  # exbert.server.budget.DEFAULT_CACHE_BYTES (a test checks)


def size(text: str) -> int:
    """``"6GB"``, ``"512MB"``, a number of bytes -> bytes (argparse's type for sizes)."""
    from exbert.server.budget import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(subparsers: Any) -> None:
    p = add_command(subparsers, "serve", run_serve,
                    help="serve the browser app and the HTTP API")
    p.add_argument("--model", action="append", dest="models", metavar="NAME",
                   help=f"a model to serve: {MODEL_HELP} (repeatable; default: "
                        f"{', '.join(DEFAULT_MODELS)})")
    p.add_argument("--corpus", action="append", dest="corpora", default=[], metavar="DIR",
                   help="a corpus folder built by `exbert corpus build` (repeatable)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="hold the corpora's shards in Ray actors: alone, a local Ray started "
                        "here; with an address (host:6379, auto), that cluster's nodes (the "
                        "corpus folders must be on a filesystem they share at the same path)")
    p.add_argument("--no-demo-corpus", action="store_true",
                   help="do not serve the cached demo corpora of the default models")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=5050, help="port (default %(default)s)")
    p.add_argument("--token", help="access token (generated when serving beyond loopback)")
    add_max_tokens(p)
    p.add_argument("--memory-budget", type=size, default=None, metavar="SIZE",
                   help="peak memory the analyses running at once may add, e.g. 6GB or 512MB: "
                        "past it a request is answered 503 with Retry-After, one that alone "
                        "needs more is refused with the numbers (default: half of this "
                        "machine's memory)")
    p.add_argument("--cache-size", type=size, default=DEFAULT_CACHE_SIZE, metavar="SIZE",
                   help="memory for the analyses kept for browsing (by id; a long lazy one "
                        "keeps its queries and keys): the least recently used go first "
                        "(default %(default)s)")

    p = add_command(subparsers, "prepare", run_prepare,
                    help="convert the default models, fit MiniLM's masked-LM head and build "
                         "demo corpora once")
    p.add_argument("--model", action="append", dest="models", metavar="NAME",
                   help=f"a model to prepare (repeatable; default: {', '.join(DEFAULT_MODELS)}"
                        f", and {', '.join(PREPARE_EXTRA)} without a demo corpus)")
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
    """Bind and serve at once; load the models (and open the corpora) in the background.

    A model loaded before (its description remembered in the cache) is listed at once and
    loads after the server answers; the first analysis with it waits for it. A model never
    loaded before is loaded here first (its shape is needed to list it). torch and
    transformers are imported only by the loading.
    """
    token = access_token(args.host, args.token)
    models = _model_slots(args)
    with contextlib.ExitStack() as stack:
        factory = None if args.ray is None else _ray_parts(stack, args.ray)
        return _serve(args, token, models, _corpora(args, list(models), factory))


def _ray_parts(stack: contextlib.ExitStack, address: str) -> Any:
    """Ray started or joined for the whole serve (left as found at exit), and the part
    factory that puts the corpora's shards in its actors."""
    from exbert.corpus.ray_cluster import RayConnection
    from exbert.errors import CorpusError
    from exbert.search.ray_parts import ray_part_factory

    connection = stack.enter_context(RayConnection(address, error=CorpusError))
    return ray_part_factory(connection.ray)


def _serve(args: argparse.Namespace, token: str | None, models: dict[str, Any],
           corpora: dict[str, Any]) -> int:
    from exbert.server import ServerConfig, create_app

    budget = {} if args.memory_budget is None else {"memory_budget_bytes": args.memory_budget}
    config = ServerConfig(host=args.host, port=args.port, token=token,
                          cache_bytes=args.cache_size, **budget)
    app = create_app(models, corpora=corpora, config=config)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/" + (f"?token={token}" if token else "")
    loading = [name for name, slot in models.items() if slot.state == "loading"]
    later = f" ({', '.join(loading)} loading in the background)" if loading else ""
    print(f"exbert is serving {', '.join(models)} at {url}{later}", flush=True)
    import uvicorn

    # a request line of up to 4,096 attention rows (GET /api/analyses/{id}/rows) fits
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                h11_max_incomplete_event_size=MAX_REQUEST_HEAD)
    return 0


def _model_slots(args: argparse.Namespace) -> dict[str, Any]:
    """``{name: ModelSlot}`` in the order given; models without a remembered description are
    loaded now (their errors end the command, as usage errors)."""
    from exbert.models import resolve
    from exbert.models.loading import known_info
    from exbert.server.lazy import ModelSlot

    slots: dict[str, Any] = {}
    load_lock = threading.Lock()  # one model loads at a time (see ModelSlot)
    for ref in args.models or DEFAULT_MODELS:
        name = resolve(ref).name
        info = known_info(ref, max_tokens=args.max_tokens)
        slot = ModelSlot(name, _loader(args.prog, ref, args.max_tokens, info is not None), info,
                         load_lock)
        if info is None:
            slot.wait()  # raises its load error here, before binding
        slots[slot.info.name] = slot
    return slots


def _loader(prog: str, ref: str, max_tokens: int, background: bool) -> Any:
    """Load ``ref``; in the background, say on stderr when it is loaded or why it is not
    (in the foreground, its error ends the command)."""

    def load_and_report() -> Any:
        import time

        from exbert.models import load

        t0 = time.perf_counter()
        try:
            model = load(ref, max_tokens=max_tokens)
        except ExbertError as exc:
            if background:
                print(f"{prog}: cannot load {ref}: {exc.message}", file=sys.stderr, flush=True)
            raise
        if background:
            print(f"{prog}: {model.name} loaded ({time.perf_counter() - t0:.1f} s)",
                  file=sys.stderr, flush=True)
        return model

    return load_and_report


def _corpora(args: argparse.Namespace, models: list[str], factory: Any = None
             ) -> dict[str, Any]:
    """The corpora given with ``--corpus`` (each must have a readable manifest, for a served
    model), else the cached demo corpora of the served models. Either opens on first use; one
    that then fails is logged and no longer listed. ``factory``: who holds the shards (Ray
    actors with ``--ray``; None: this process)."""
    if not args.corpora and args.no_demo_corpus:
        return {}
    from exbert.search.serving import corpora_for_server

    if args.corpora:
        return dict(corpora_for_server(list(args.corpora), models, factory))
    from exbert.corpus import demo

    found: dict[str, Any] = {}
    for name in models:
        folder = demo.existing_demo_corpus(name)
        if folder is None:
            continue
        try:
            found.update(corpora_for_server([folder], models, factory))
        except ExbertError as exc:  # a stale cache must not stop the server
            print(f"{args.prog}: skipping the demo corpus of {name}: {exc.message}",
                  file=sys.stderr)
    return found


def run_prepare(args: argparse.Namespace) -> int:
    """Convert each model once (GGUF -> safetensors cache), fit ``minilm-l6-mlm``'s head once
    (progress on stderr) and build the demo corpus of each default model once."""
    import time

    from exbert.corpus import demo
    from exbert.models import load

    for name in args.models or (*DEFAULT_MODELS, *PREPARE_EXTRA):
        t0 = time.perf_counter()
        model = load(name)
        print(f"{name}: model ready ({time.perf_counter() - t0:.1f} s)", flush=True)
        if not args.no_corpus and (args.models or name in DEFAULT_MODELS):
            t0 = time.perf_counter()
            folder = demo.ensure_demo_corpus(name, model=model)
            print(f"{name}: demo corpus ready in {folder} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
    return 0
