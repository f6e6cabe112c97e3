"""``exbert analyze``, ``exbert info`` and ``exbert models``.

    exbert analyze "The capital of France is" --model smollm2-135m
    exbert analyze "The cat sat." --model minilm-l6 --text-b "It purred." --json
    exbert analyze --file chapter.txt --model smollm2-135m --max-tokens 8192
    exbert analyze "The capital of France is" --model smollm2-135m --lens --heads-report

A short input prints each token (what it attends to most, its predictions). A long one (lazy
attention, or more than :data:`LONG_TOKENS` tokens) prints a summary instead, computed from the
analysis without materialising its attention: per layer the attention sink mass (the mean
attention on the first token) and the most sink-heavy head, and the strongest long-range
edges (|query - key| >= ``--min-distance``), found by scanning attention rows head by head in
chunks of :data:`CHUNK_ROWS` rows (bounded memory; ``--scan-rows`` caps the rows per head).
``--lens`` and ``--heads-report`` print the logit lens and the head detectors instead
(:mod:`exbert.cli.lenses`).
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.cli.lenses import add_lens_options, check_lens_options, run_lenses, wants_lenses
from exbert.cli.options import (
    MODEL_HELP,
    add_analysis,
    add_attention,
    add_command,
    add_kind,
    add_layer,
    add_max_tokens,
    add_model,
    analysis_kwargs,
    load_kwargs,
)
from exbert.errors import EmptyText, InvalidInput, NoOutputHead, TextTooLong
from exbert.view import MAX_TEXT_CHARS

if TYPE_CHECKING:
    import numpy as np

    from exbert.analysis import Analysis, Token
    from exbert.info import ModelInfo

LONG_TOKENS = 512
"""Above this many tokens (or in lazy mode) ``analyze`` prints the long-input summary."""
CHUNK_ROWS = 256
"""Attention rows computed at once while scanning for long-range edges ([256, T] float32)."""
DEFAULT_SCAN_ROWS = 1024
"""Query rows scanned per head (evenly spaced) unless ``--scan-rows`` says otherwise."""
MAX_FILE_BYTES = 4 * MAX_TEXT_CHARS  # UTF-8 takes at most 4 bytes a character


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers, "analyze", run_analyze,
        help="analyse a text (or a text file) and print tokens, predictions, attention",
        description="Analyse a text. A long input (lazy attention, or more than "
        f"{LONG_TOKENS} tokens) prints a summary instead of every token: per layer the "
        "attention sink mass (mean attention on the first token, over heads) and the most "
        "sink-heavy head, and the strongest long-range edges. The edges come from scanning "
        f"attention rows head by head, {CHUNK_ROWS} rows at a time (bounded memory); past "
        "--scan-rows query rows per head only that many are scanned (every layer, every "
        f"head), in runs of up to {CHUNK_ROWS} consecutive rows spread evenly over the "
        "document, so an edge from an unscanned row can be missed; --scan-rows 0 scans them "
        "all (at 8,192 tokens on two cores: minutes).",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="the text to analyse")
    source.add_argument("--file", metavar="PATH",
                        help="analyse this UTF-8 text file instead of TEXT")
    add_model(p)
    add_analysis(p)
    add_attention(p)
    add_layer(p, -1, "layer of the attention summary")
    add_kind(p)
    add_max_tokens(p)
    p.add_argument("--min-distance", type=int, default=64, metavar="D",
                   help="long input: edges listed join tokens at least D apart (default "
                        "%(default)s)")
    p.add_argument("--edges", type=int, default=10, metavar="K",
                   help="long input: how many of the strongest long-range edges to list "
                        "(default %(default)s; 0: none, no scan)")
    p.add_argument("--scan-rows", type=int, default=DEFAULT_SCAN_ROWS, metavar="N",
                   help="long input: query rows scanned per layer and head, in runs spread "
                        "evenly over the document (0: all; default %(default)s)")
    p.add_argument("--include-sink", action="store_true",
                   help="long input: list edges to the first token (the attention sink) and "
                        "to special tokens too (left out by default: they outweigh the rest)")
    p.add_argument("--json", action="store_true",
                   help="print the whole analysis as JSON (a long input: its summary; with "
                        "--lens or --heads-report: those)")
    add_lens_options(p)

    p = add_command(subparsers, "info", run_info, help="describe a model")
    p.add_argument("model", help=MODEL_HELP)
    add_kind(p)

    add_command(subparsers, "models", run_models, help="list the shipped models")


def run_analyze(args: argparse.Namespace) -> int:
    """Print each token, the token it attends to most at ``--layer`` (mean over heads) and its
    top predictions; or the whole analysis as JSON. A long input: :func:`print_long`."""
    from exbert.models import load
    from exbert.view import check_layer

    for flag in ("min_distance", "edges", "scan_rows"):
        if getattr(args, flag) < 0:
            raise InvalidInput(f"--{flag.replace('_', '-')} must be 0 or more",
                               **{flag: getattr(args, flag)})
    check_lens_options(args)
    text = read_text_file(args.file) if args.file is not None else args.text
    model = load(args.model, **load_kwargs(args))
    info = model.info
    layer = check_layer(args.layer, info.layers)
    if getattr(args, "lens", False) and not info.has_lm_head:  # before the forward, not after
        from exbert.analysis.lens_head import no_head_message

        raise NoOutputHead(no_head_message(model), model=info.name)
    started = time.perf_counter()
    a = model.analyze(text, **analysis_kwargs(args))
    seconds = time.perf_counter() - started
    if wants_lenses(args):
        return run_lenses(args, model, a)
    if a.mode == "lazy" or a.n_tokens > LONG_TOKENS:
        return print_long(args, info, a, seconds)
    if args.json:
        sys.stdout.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
        return 0
    print(f"{info.name}: {info.kind}, {info.layers} layers x {info.heads} heads, "
          f"{len(a.tokens)} tokens")
    where = "next token" if info.kind == "autoregressive" else "at token"
    print(f"\n{'#':>3}  {'token':<16} {'attends most to (layer ' + str(layer) + ')':<28} "
          f"predictions ({where})")
    for i, (tok, target, weight) in enumerate(a.summary(layer=layer)):
        preds = ""
        if a.predictions is not None:
            preds = "  ".join(f"{p.token!r} {p.prob:.2f}" for p in a.predictions[i][:3])
        mark = "*" if tok.masked else ""
        print(f"{i:>3}  {shown(tok):<16} {shown(target):<20} {weight:6.2f}  {preds}{mark}")
    if a.predictions is None:
        print(f"\n{a.predictions_unavailable}")
    return 0


def shown(tok: Token) -> str:
    """A token as the text output prints it: quoted, a piece of the word before it as
    ``'##s'`` (WordPiece's notation, for every tokenizer)."""
    return repr(("##" if tok.continues else "") + tok.text)


# --- text files -----------------------------------------------------------------------------


def read_text_file(path: str) -> str:
    """The text of a UTF-8 file (a byte order mark dropped); :class:`InvalidInput` saying what
    is wrong for a missing, unreadable, binary, non-UTF-8 or oversized file, :class:`EmptyText`
    for an empty one."""
    name = str(path)
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(f"{name}: no such file", path=name) from None
    except IsADirectoryError:
        raise InvalidInput(f"{name}: a folder, not a text file", path=name) from None
    except PermissionError:
        raise InvalidInput(f"{name}: permission denied", path=name) from None
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot read it ({exc.strerror or type(exc).__name__})",
                           path=name) from None
    if len(data) > MAX_FILE_BYTES:
        raise TextTooLong(f"{name}: over {MAX_FILE_BYTES:,} bytes; one analysis reads at most "
                          f"{MAX_TEXT_CHARS:,} characters", path=name, limit=MAX_TEXT_CHARS)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InvalidInput(f"{name}: a binary file, not text (a NUL byte at offset {nul})",
                           path=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{name}: not UTF-8 text (byte {exc.start} cannot be decoded); convert it, e.g. "
            "`iconv -f latin1 -t utf-8`", path=name) from None
    if not text.strip():
        raise EmptyText(f"{name}: the file is empty (nothing but whitespace)", path=name)
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(f"{name}: {len(text):,} characters; one analysis reads at most "
                          f"{MAX_TEXT_CHARS:,}", path=name, limit=MAX_TEXT_CHARS)
    return text


# --- long inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """What :func:`long_range_edges` looked at: ``rows`` query rows per head out of
    ``candidates`` (queries that have a key at least ``min_distance`` away)."""

    min_distance: int
    rows: int
    candidates: int
    seconds: float


def sink_mass(a: Analysis) -> list[dict[str, Any]]:
    """Per layer: the mean over heads of the attention on the first token, and the head with
    the most (from ``head_stats()["first_token"]``)."""
    first = a.head_stats()["first_token"]
    return [{"layer": layer, "sink": float(row.mean()), "head": int(row.argmax()),
             "head_sink": float(row.max())} for layer, row in enumerate(first)]


def scanned_rows(n_tokens: int, min_distance: int, causal: bool, limit: int) -> np.ndarray:
    """The query rows scanned per head, ascending: those with a key ``min_distance`` or more
    away; when there are more than ``limit`` (0: no limit), ``limit`` of them in runs of at
    most :data:`CHUNK_ROWS` consecutive rows spread evenly over the document (consecutive
    rows are computed together)."""
    import numpy as np

    rows = np.arange(n_tokens)
    far = rows >= min_distance
    if not causal:
        far |= rows + min_distance <= n_tokens - 1
    rows = rows[far]
    if not limit or len(rows) <= limit:
        return rows
    runs = -(-limit // CHUNK_ROWS)
    size = -(-limit // runs)
    starts = np.linspace(0, len(rows) - size, runs).round().astype(np.int64)
    return np.unique(np.concatenate([rows[s:s + size] for s in starts]))


@dataclass(frozen=True)
class EdgeQuery:
    """What :func:`long_range_edges` looks for: the ``top`` strongest edges at least
    ``min_distance`` apart, scanning ``scan_rows`` query rows per head (0: all); keys in
    ``skip_keys`` (the first token, the sink, and special tokens) are left out."""

    min_distance: int
    top: int
    scan_rows: int
    causal: bool
    skip_keys: tuple[int, ...] = ()


def long_range_edges(
    a: Analysis, q: EdgeQuery
) -> tuple[list[tuple[float, int, int, int, int]], Scan]:
    """The ``q.top`` strongest single-head edges ``(weight, layer, head, query, key)`` with
    ``|query - key| >= q.min_distance``, strongest first. Rows come from
    ``a.attention_rows(layer, [head], rows)`` :data:`CHUNK_ROWS` at a time; a heap keeps the
    best ``top``, so memory stays one chunk ([CHUNK_ROWS, T] float32) whatever T is."""
    import numpy as np

    started = time.perf_counter()
    n, top = a.n_tokens, q.top
    candidates = scanned_rows(n, q.min_distance, q.causal, 0)
    rows = scanned_rows(n, q.min_distance, q.causal, q.scan_rows)
    best: list[tuple[float, int, int, int, int]] = []
    keys = np.arange(n)
    skip = np.asarray(q.skip_keys, dtype=np.int64)
    for lo in range(0, len(rows) if top else 0, CHUNK_ROWS):
        chunk = rows[lo:lo + CHUNK_ROWS]
        near = np.abs(chunk[:, None] - keys[None, :]) < q.min_distance
        near[:, skip] = True
        for layer in range(a.n_layers):
            for head in range(a.n_heads):
                w = np.asarray(a.attention_rows(layer, [head], chunk.tolist()), dtype=np.float32)
                w[near] = -1.0
                flat = w.ravel()
                k = min(top, flat.size)
                for idx in np.argpartition(flat, flat.size - k)[flat.size - k:]:
                    weight = float(flat[idx])
                    if weight < 0:
                        continue
                    item = (weight, layer, head, int(chunk[idx // n]), int(idx % n))
                    if len(best) < top:
                        heapq.heappush(best, item)
                    elif item > best[0]:
                        heapq.heapreplace(best, item)
    scan = Scan(q.min_distance, len(rows), len(candidates), time.perf_counter() - started)
    return sorted(best, reverse=True), scan


def print_long(args: argparse.Namespace, info: ModelInfo, a: Analysis, seconds: float) -> int:
    """The long-input summary (text, or JSON with ``--json``)."""
    started = time.perf_counter()
    sinks = sink_mass(a)
    stats_s = time.perf_counter() - started
    skip = () if args.include_sink else tuple(
        i for i, t in enumerate(a.tokens) if i == 0 or t.special)
    edges, scan = long_range_edges(a, EdgeQuery(
        args.min_distance, args.edges, args.scan_rows, info.kind == "autoregressive", skip))
    if args.json:
        data = {
            "model": info.name, "kind": info.kind, "n_layers": a.n_layers,
            "n_heads": a.n_heads, "n_tokens": a.n_tokens, "mode": a.mode,
            "seconds": round(seconds, 3), "stats_seconds": round(stats_s, 3),
            "sink": sinks,
            "edges": [{"layer": layer, "head": head, "query": i, "key": j, "weight": w,
                       "query_token": a.tokens[i].text, "key_token": a.tokens[j].text}
                      for w, layer, head, i, j in edges],
            "scan": {"min_distance": scan.min_distance, "rows_per_head": scan.rows,
                     "candidate_rows": scan.candidates, "chunk_rows": CHUNK_ROWS,
                     "skipped_keys": "none" if args.include_sink else "first and special",
                     "seconds": round(scan.seconds, 3)},
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return 0
    print(f"{info.name}: {info.kind}, {info.layers} layers x {info.heads} heads, "
          f"{a.n_tokens:,} tokens, {a.mode} attention, analysed in {seconds:.1f} s")
    print(f"\nattention sink: mean attention on the first token {shown(a.tokens[0])} "
          f"(head stats in {stats_s:.1f} s)")
    print(f"{'layer':>5}  {'mean over heads':>15}  most sink-heavy head")
    for s in sinks:
        print(f"{s['layer']:>5}  {s['sink']:>15.3f}  head {s['head']:<3} {s['head_sink']:.3f}")
    if not args.edges:
        return 0
    subset = ("all" if scan.rows == scan.candidates
              else f"{scan.rows:,} (in runs spread evenly) of the {scan.candidates:,}")
    sink = "" if args.include_sink else "; keys other than the first token and special tokens"
    print(f"\nstrongest long-range edges (|query - key| >= {scan.min_distance}{sink}; "
          f"{subset} query rows per head, every layer and head; {scan.seconds:.1f} s)")
    if not edges:
        print("  none: no query has a key that far away")
        return 0
    print(f"{'layer':>5} {'head':>4}  {'query':>7} {'':<16} {'key':>7} {'':<16} weight")
    for w, layer, head, i, j in edges:
        print(f"{layer:>5} {head:>4}  {i:>7} {shown(a.tokens[i])[:16]:<16} "
              f"{j:>7} {shown(a.tokens[j])[:16]:<16} {w:.3f}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print the model's :class:`~exbert.info.ModelInfo` as JSON."""
    from exbert.models import load

    info = load(args.model, kind=args.kind).info
    print(json.dumps(info.to_dict(), indent=2))
    return 0


def run_models(_: argparse.Namespace) -> int:
    """Print the shipped aliases and what they are."""
    from exbert.models import SHIPPED

    for m in SHIPPED.values():
        print(f"{m.alias:<14} {m.description}")
    return 0
