"""``exbert corpus build|search|info|index``: a thin layer over :mod:`exbert.corpus` and
:mod:`exbert.search`.

    exbert corpus build holmes.txt --model minilm-l6 --out corpora/holmes-minilm
    exbert corpus build books/ 'extra/*.jsonl' --model minilm-l6 --out DIR --workers 2 --ray
    exbert corpus search corpora/holmes-minilm --text "The door opened." --token 2 --layer 3
    exbert corpus search DIR --text "..." --token 2 --layer 3 --by context --heads 0,3 \\
        -k 10 --filter pos=VERB --json
    exbert corpus info corpora/holmes-minilm --verify

Layers are numbered as in every exbert command (:mod:`exbert.view`): ``--layer 3`` is
transformer layer 3 (0-based, as ``exbert analyze --layer 3`` shows it; negative counts from
the end); ``--layer embeddings`` the embedding output (embedding search only).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exbert.cli.options import add_command, add_max_tokens, add_model, int_list, layer_arg
from exbert.errors import InvalidRequest
from exbert.view import DEFAULT_K_SHOWN, DEFAULT_WINDOW, LAYER_HELP, MAX_K, MAX_WINDOW, layer_name


def add_parsers(subparsers: Any) -> None:
    """``corpus`` and its subcommands."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "corpus", help="build, inspect and search annotated reference corpora",
        description="Annotated reference corpora: build one from text for a model, then find "
                    "the corpus tokens nearest to a token of your text.")
    sub = p.add_subparsers(dest="corpus_command", required=True, metavar="SUBCOMMAND")
    _add_build(sub)
    _add_search(sub)
    from exbert.cli.corpus_index import add_index

    add_index(sub)
    i = add_command(sub, "info", run_info, help="describe a corpus and check it")
    i.add_argument("corpus", metavar="DIR")
    i.add_argument("--verify", action="store_true", help="verify every file's checksum")
    i.add_argument("--heads", action="store_true", help="print the head-discovery ranking")
    i.add_argument("--json", action="store_true", help="print the description as JSON")


def _add_build(sub: Any) -> None:
    from exbert.corpus.config import BuildOptions

    default = BuildOptions()  # the defaults of exbert.corpus.build
    b = add_command(sub, "build", run_build,
                    help="build (or resume) a corpus from .txt, .jsonl or .parquet files")
    b.add_argument("input", nargs="+", metavar="INPUT",
                   help="files, globs or folders (searched recursively) of .txt (paragraphs "
                        "split by blank lines), .jsonl with a \"text\" field per line, or "
                        ".parquet with a text column; units are numbered across them in order")
    add_model(b, required=True)
    b.add_argument("--out", required=True, metavar="DIR", help="the corpus folder to publish")
    b.add_argument("--spacy", default=default.spacy_pipeline, metavar="PIPELINE",
                   help="spaCy pipeline for sentences and annotation "
                        "(default %(default)s; French: fr_core_news_sm)")
    b.add_argument("--layers", default=None,
                   help="layers to store: 'all' (the embeddings and every layer), or a list "
                        f"such as 0,3,5 or embeddings,0,5 ({LAYER_HELP}; 'embeddings' = the "
                        "embedding output). Default: all up to 12 layers, else the embeddings, "
                        "every round(L/10)-th layer and the last")
    b.add_argument("--max-sentences", type=int, default=None, metavar="N",
                   help="stop after this many stored sentences (default: no limit)")
    b.add_argument("--min-words", type=int, default=default.min_words, metavar="N",
                   help="skip .txt sentences with fewer words (default %(default)s)")
    b.add_argument("--batch-tokens", type=int, default=default.batch_tokens, metavar="N",
                   help="padded tokens per forward batch (default %(default)s)")
    b.add_argument("--shard-sentences", type=int, default=default.shard_sentences, metavar="N",
                   help="sentences per checkpoint (default %(default)s)")
    b.add_argument("--approximate", action="store_true",
                   help="also build an approximate (IVF-PQ) index per layer, for large corpora")
    b.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads for the forward pass (default: all cores, one fewer "
                        "while spaCy is annotating)")
    b.add_argument("--name", default=None, help="corpus name shown by the server "
                                                "(default: the --out folder's name)")
    add_max_tokens(b, "tokens of a sentence (longer ones are skipped)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--text-field", default=default.text_field, metavar="NAME",
                   help=".jsonl field or Parquet column holding the text (default "
                        "%(default)s); the other fields are kept as document metadata")
    b.add_argument("--strict", action="store_true",
                   help="stop at the first bad .jsonl line or Parquet row (not JSON, not an "
                        "object, no or empty text) instead of skipping and counting it")
    b.add_argument("--workers", type=int, default=default.workers, metavar="N",
                   help="spaCy processes annotating the input (default %(default)s)")
    b.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run annotation and the forward passes on Ray: alone, a local Ray; "
                        "with an address (ray://host:10001 or host:6379), that cluster")
    b.add_argument("--vectors", choices=("sq8", "pq"), default=default.vectors,
                   help="vector storage: sq8 (exact int8 codes, default) or pq (product "
                        "quantisation per shard: 8x smaller, approximate scores)")


def _add_search(sub: Any) -> None:
    s = add_command(sub, "search", run_search,
                    help="nearest corpus tokens of a token of your text")
    s.add_argument("corpus", metavar="DIR")
    s.add_argument("--model", default=None,
                   help="the model (default: the one the corpus was built for)")
    s.add_argument("--text", required=True, help="the text whose token is searched for")
    s.add_argument("--token", type=int, required=True, metavar="I",
                   help="token index in the analysed text (see the token list printed)")
    s.add_argument("--layer", type=layer_arg, required=True, metavar="L",
                   help=f"{LAYER_HELP}, the same layer as `exbert analyze --layer`; or "
                        "'embeddings' (the embedding output, embedding search only)")
    s.add_argument("--by", choices=("embedding", "context"), default="embedding",
                   help="compare hidden states or per-head contexts (default %(default)s)")
    s.add_argument("--heads", type=int_list, default=None, metavar="H,H",
                   help="heads (0-based) of the context search and of the max-attention summary "
                        "(default all)")
    s.add_argument("-k", type=int, default=DEFAULT_K_SHOWN,
                   help=f"matches, 1..{MAX_K} (default %(default)s)")
    s.add_argument("--filter", action="append", dest="filters", default=[],
                   metavar="FIELD=VALUE",
                   help="condition on the matched token: pos=VERB (any case), "
                        "ent_type=PERSON,GPE, dep!=punct, is_stop=false, or on its document's "
                        "metadata: doc.source=wiki (repeatable)")
    s.add_argument("--approximate", action="store_true", help="use the approximate index")
    s.add_argument("--include-special", action="store_true",
                   help="let special tokens ([CLS], [SEP]) be matches")
    s.add_argument("--special-attention", action="store_true",
                   help="count attention to special tokens in the max-attention summary "
                        "(skipped by default: most heads park their attention there)")
    s.add_argument("--window", type=int, default=DEFAULT_WINDOW, metavar="W",
                   help=f"summary offsets -W..+W, 0..{MAX_WINDOW} (default %(default)s)")
    s.add_argument("--json", action="store_true", help="print the whole result as JSON")


def run_build(args: argparse.Namespace) -> int:
    """Build (or resume) the corpus and print what it holds."""
    from exbert.corpus.build import build
    from exbert.corpus.input_set import expand_inputs
    from exbert.corpus.layers import format_layers
    from exbert.models import load

    expand_inputs(args.input)  # a missing or unreadable input is said before the model loads
    model = load(args.model, max_tokens=args.max_tokens)
    try:
        manifest = build(
            args.input, model, args.out,
            spacy_pipeline=args.spacy,
            layers=args.layers,
            batch_tokens=args.batch_tokens,
            progress=not args.no_progress,
            max_sentences=args.max_sentences,
            min_words=args.min_words,
            shard_sentences=args.shard_sentences,
            approximate=args.approximate,
            threads=args.threads,
            name=args.name,
            text_field=args.text_field,
            strict=args.strict,
            workers=args.workers,
            ray=args.ray,
            vectors=args.vectors,
        )
    except KeyboardInterrupt:
        print(f"{args.prog}: run the same command again to resume", file=sys.stderr)
        raise
    b = manifest.raw.get("build", {})
    size = sum(int(f["size"]) for m in manifest.shard_manifests() for f in m.files.values())
    resumed = f", resumed {b['resumed_shards']} finished shards" if b.get(
        "resumed_shards") else ""
    shards = len(manifest.raw.get("shards") or [None])
    print(f"corpus {manifest.name}: {manifest.n_sentences} sentences, {manifest.n_tokens} "
          f"tokens in {shards} shard{'s' if shards != 1 else ''}, layers "
          f"{format_layers(manifest.layers)}, {size / 1e6:.1f} MB "
          f"({size / max(1, manifest.n_tokens):.0f} B/token), {b.get('seconds', 0):.1f} s"
          f"{resumed} -> {args.out}")
    _print_input_notes(manifest.raw)
    return 0


def _print_input_notes(raw: dict[str, Any]) -> None:
    """The skipped bad records and the document fields of a finished build."""
    from exbert.corpus.inputs import Skipped

    skipped = Skipped.from_dict(raw.get("input", {}).get("skipped") or {})
    if skipped.count:
        print(skipped.summary())
    fields = raw.get("documents", {}).get("fields")
    if fields:
        print(f"document metadata: {', '.join(fields)} (filter as doc.NAME=VALUE)")


def run_search(args: argparse.Namespace) -> int:
    """Analyse ``--text`` and print (or write as JSON) the corpus tokens nearest to
    ``--token`` at ``--layer`` (a transformer layer or the embeddings)."""
    from exbert.corpus.manifest import read_manifest
    from exbert.models import load
    from exbert.search import Corpus, search

    name = args.model or read_manifest(Path(args.corpus)).model.name
    model = load(name)
    corpus = Corpus.open(args.corpus, model)
    analysis = model.analyze(args.text, top_k=0)
    if not 0 <= args.token < analysis.n_tokens:
        listing = " ".join(f"{i}:{t.text!r}" for i, t in enumerate(analysis.tokens))
        raise InvalidRequest(f"--token must be between 0 and {analysis.n_tokens - 1}; "
                             f"the tokens are: {listing}")
    result = search(model, corpus, analysis, args.token, args.layer, by=args.by,
                    heads=args.heads, k=args.k, filters=args.filters or None,
                    exact=not args.approximate, include_special=args.include_special,
                    window=args.window, special_attention=args.special_attention)
    if args.json:
        out = result.to_dict()
        out["query"] = {"text": args.text, "token": args.token,
                        "token_text": analysis.tokens[args.token].text}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return 0
    _print_result(result, analysis.tokens[args.token].text, args.token)
    return 0


def _mark(tokens: Sequence[Any], position: int, other: int | None) -> str:
    parts = []
    for i, t in enumerate(tokens):
        if t.special and i != other:
            continue
        text = t.text.strip() or t.text
        if i == position:
            text = f"[[{text}]]"
        elif other is not None and i == other:
            text = f"<{text}>"
        parts.append(text)
    return " ".join(parts)


def _print_result(result: Any, token_text: str, token: int) -> None:
    heads = "all heads" if result.heads is None else f"heads {result.heads}"
    what = f"context ({heads})" if result.by == "context" else "embedding"
    filters = f", filters {' '.join(result.filters)}" if result.filters else ""
    print(f"{len(result.matches)} nearest tokens to token {token} {token_text!r} by {what} at "
          f"{layer_name(result.layer)} in corpus {result.corpus}{filters} "
          f"({result.seconds * 1000:.0f} ms)")
    print("[[match]]  <token it attends to most>")
    for m in result.matches:
        t = m.token
        ma = m.max_attention
        other = ma.out if ma is not None else None
        label = "/".join(x for x in (t.pos, t.dep, t.ent_type) if x)
        print(f"{m.rank + 1:>3} {m.score:6.3f}  {label:<18} {_mark(m.tokens, m.position, other)}")
    if result.max_attention_unavailable:
        print(f"(max attention: {result.max_attention_unavailable})")
    for name, hist in (("matched", result.summary.matched),
                       ("max attention", result.summary.max_attention)):
        if hist:
            pos = ", ".join(f"{k or '-'} {v}" for k, v in list(hist["pos"].items())[:8])
            print(f"POS of {name} tokens: {pos}")


def _input_names(section: dict[str, Any]) -> str:
    """The input file, or the first one and how many more."""
    paths = section.get("paths") or [section.get("path", "?")]
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f"{paths[0]}{more}"


def run_info(args: argparse.Namespace) -> int:
    """Describe the corpus (and verify every checksum with ``--verify``)."""
    from exbert.search import Corpus

    corpus = Corpus.open(args.corpus, verify="full" if args.verify else "auto")
    if args.verify:
        corpus.verify()
    info = corpus.info()
    if args.heads:
        info["heads"] = corpus.head_ranking().to_dict(top=5)
    if args.json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
        return 0
    c = info["counts"]
    m = info["model"]
    print(f"corpus {info['name']} ({info['path']})")
    print(f"  model        {m['name']} ({m['kind']}, {m['layers']} layers x {m['heads']} heads, "
          f"hidden {m['hidden_size']})")
    print(f"  text         {c['sentences']} sentences, {c['tokens']} tokens, {c['words']} words "
          f"from {_input_names(info['input'])}")
    print(f"  spaCy        {info['spacy']['pipeline']} {info['spacy']['version']}")
    emb = ", ".join(map(str, info["layers"])) or "none"
    ctx = ", ".join(map(str, info["context_layers"])) or "none"
    print(f"  layers       embedding search: {emb}; context search: {ctx} "
          "(0-based transformer layers)")
    shards = int(info.get("shards", 1))
    vectors = (info.get("storage") or {}).get("vectors", "sq8")
    print(f"  size         {info['bytes'] / 1e6:.1f} MB ({info['bytes_per_token']:.0f} B/token) "
          f"in {shards} shard{'s' if shards != 1 else ''}, vectors {vectors}"
          f"{', approximate index' if info['approximate'] else ''}")
    print(f"  checksums    {'all verified' if args.verify else 'verified on open'}")
    print(f"  rebuild      {info['rebuild_command']}")
    if args.heads:
        for rel, data in info["heads"]["relations"].items():
            top = ", ".join(f"L{c['layer']}H{c['head']} {c['score']:.2f}" for c in data["top"])
            print(f"  heads {rel:<12} {top}")
    return 0

