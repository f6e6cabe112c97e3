"""``exbert analyze ... --lens`` and ``--heads-report``: the logit lens and the head detectors of
an analysis, printed for a terminal (or as JSON with ``--json``).

    exbert analyze "The capital of France is" --model smollm2-135m --lens
    exbert analyze "$(cat story.txt)" --model smollm2-135m --heads-report --json

``--lens`` prints a layers x tokens table: row ``emb`` is the embeddings, row ``i`` the output of
layer ``i`` (the last row: the model's own predictions); each cell the top-1 token of the
model's final normalisation and output head applied to that hidden state, and its probability.
Tokens are columns, in blocks as wide as the terminal. ``--heads-report`` lists, per detector
(:data:`exbert.analysis.DETECTORS`), the heads that score highest.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import textwrap
import unicodedata
from typing import TYPE_CHECKING, Any

from exbert.errors import InvalidInput
from exbert.view import DEFAULT_LENS_TOP_K, MAX_TOP_K

if TYPE_CHECKING:
    from exbert.analysis import Analysis, LogitLens
    from exbert.models import Model

DEFAULT_REPORT_HEADS = 5
"""Heads listed per detector by ``--heads-report`` unless ``--top-heads`` says otherwise."""
TOKEN_WIDTH = 7
"""Terminal columns of a cell's token (longer ones are cut, ending in an ellipsis)."""
CELL = TOKEN_WIDTH + 5  # the token, a space, the probability as 0.87
LABEL = 5
DESCRIPTIONS = {
    "previous_token": "the token before",
    "induction": "the token after an earlier occurrence of this token (Olsson et al. 2022)",
    "duplicate_token": "earlier occurrences of this token",
    "first_token": "the first token (the attention sink)",
    "self": "the token itself",
    "local": "tokens within 2 positions",
}


def add_lens_options(parser: argparse.ArgumentParser) -> None:
    """``--lens``, ``--lens-top-k``, ``--heads-report`` and ``--top-heads``."""
    group = parser.add_argument_group("lenses")
    group.add_argument("--lens", action="store_true",
                       help="print the logit lens: a layers x tokens table of each layer's "
                            "top-1 prediction and its probability (--json: the whole lens). "
                            "Models with an output head only")
    group.add_argument("--lens-top-k", type=int, default=DEFAULT_LENS_TOP_K, metavar="K",
                       help=f"--lens --json: predictions per layer and token, 1..{MAX_TOP_K} "
                            "(default %(default)s)")
    group.add_argument("--heads-report", action="store_true",
                       help="print the heads that score highest on each head detector "
                            "(previous token, induction, duplicate token, first token, self, "
                            "local)")
    group.add_argument("--top-heads", type=int, default=DEFAULT_REPORT_HEADS, metavar="N",
                       help="--heads-report: heads listed per detector (default %(default)s)")


def wants_lenses(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "lens", False) or getattr(args, "heads_report", False))


def check_lens_options(args: argparse.Namespace) -> None:
    """:class:`InvalidInput` for a ``--lens-top-k`` or ``--top-heads`` out of range (before
    the model loads)."""
    if not 1 <= args.lens_top_k <= MAX_TOP_K:
        raise InvalidInput(f"--lens-top-k must be between 1 and {MAX_TOP_K}, not "
                           f"{args.lens_top_k}", lens_top_k=args.lens_top_k)
    if args.top_heads < 1:
        raise InvalidInput(f"--top-heads must be 1 or more, not {args.top_heads}",
                           top_heads=args.top_heads)


def run_lenses(args: argparse.Namespace, model: Model, a: Analysis) -> int:
    """Print what ``--lens`` and ``--heads-report`` ask for (text, or one JSON object)."""
    lens = model.logit_lens(a, top_k=args.lens_top_k) if args.lens else None
    report = heads_report(model.head_scores(a), args.top_heads) if args.heads_report else None
    if args.json:
        data: dict[str, Any] = {}
        if lens is not None:
            data = lens.to_dict()
        if report is not None:
            data = {"lens": data, "heads": report} if lens is not None else report
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return 0
    width = shutil.get_terminal_size((100, 24)).columns
    info = model.info
    print(f"{info.name}: {info.kind}, {info.layers} layers x {info.heads} heads, "
          f"{a.n_tokens} tokens")
    if lens is not None:
        print()
        print("\n".join(lens_table(lens, a, width)))
    if report is not None:
        print()
        print("\n".join(report_lines(report, width)))
    return 0


# --- the logit lens table -------------------------------------------------------------------


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def visible(text: str) -> str:
    """A token for a table cell: spaces as ``·``, newlines and tabs as ``⏎`` and ``⇥``, other
    control characters escaped, nothing as ``∅``."""
    if not text:
        return "∅"
    out = text.replace(" ", "·").replace("\n", "⏎").replace("\t", "⇥")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in out)


def fit(text: str, width: int) -> str:
    """``text`` cut (ending in ``…``) or padded to ``width`` terminal columns."""
    used, out = 0, []
    total = sum(_char_width(c) for c in text)
    budget = width if total <= width else width - 1
    for c in text:
        w = _char_width(c)
        if used + w > budget:
            break
        out.append(c)
        used += w
    if total > width:
        out.append("…")
        used += 1
    return "".join(out) + " " * (width - used)


def layer_label(hidden: int) -> str:
    """Row ``hidden`` of a lens (a hidden-state index): ``emb`` or the layer it is the output
    of (exbert's one layer numbering)."""
    return "emb" if hidden == 0 else str(hidden - 1)


def lens_table(lens: LogitLens, a: Analysis, width: int) -> list[str]:
    """The lines of the layers x tokens table, tokens in blocks of columns that fit ``width``
    terminal columns (at least one token per block)."""
    where = "the next token" if a.kind == "autoregressive" else "the token"
    lines = textwrap.wrap(
        f"logit lens ({lens.lens}): per layer, its top-1 prediction of {where} and its "
        "probability; emb = the embeddings, row i = the output of layer i (the last row: the "
        "model's own predictions)", max(width, 40))
    if not lens.positions:
        lines.append(f"(no columns: this {a.mode} analysis keeps no hidden states; analyse with "
                     "--attention full)")
    per_block = max(1, (width - LABEL) // (CELL + 1))
    columns = list(range(len(lens.positions)))
    for start in range(0, len(columns), per_block):
        block = columns[start:start + per_block]
        lines.append("")
        lines.append(" " * LABEL + " ".join(
            fit(f"{lens.positions[c]}:{visible(a.tokens[lens.positions[c]].text)}", CELL)
            for c in block).rstrip())
        for hidden in range(lens.n_layers):
            cells = []
            for c in block:
                best = lens.top[hidden][c][0]
                cells.append(f"{fit(visible(best.token), TOKEN_WIDTH)} {_prob(best.prob)}")
            lines.append(f"{layer_label(hidden):>{LABEL - 1}} " + " ".join(cells))
    return lines


def _prob(p: float) -> str:
    return " n/a" if not math.isfinite(p) else f"{min(max(p, 0.0), 1.0):.2f}"


# --- the head detectors ---------------------------------------------------------------------


def heads_report(scores: dict[str, Any], top: int) -> dict[str, Any]:
    """Per detector the ``top`` heads by score, highest first (heads where the pattern applies
    to no token left out): ``{names, layers, heads, top: {name: [{layer, head, score}]}}``."""
    import numpy as np

    out: dict[str, Any] = {"names": list(scores), "layers": 0, "heads": 0, "top": {}}
    for name, table in scores.items():
        s = np.asarray(table, dtype=np.float64)
        out["layers"], out["heads"] = int(s.shape[0]), int(s.shape[1])
        flat = np.where(np.isfinite(s), s, -np.inf).ravel()
        order = np.argsort(-flat, kind="stable")[:top]
        out["top"][name] = [
            {"layer": int(i // s.shape[1]), "head": int(i % s.shape[1]), "score": float(flat[i])}
            for i in order if np.isfinite(flat[i])]
    return out


def report_lines(report: dict[str, Any], width: int = 100) -> list[str]:
    """The heads report as a table (detector, rank, layer, head, score), then what each
    detector's pattern is, wrapped to ``width`` columns."""
    lines = textwrap.wrap("head detectors: per head, the mean attention it puts on the "
                          "pattern (0..1) over the tokens where the pattern applies",
                          max(width, 40))
    lines.append(f"{'detector':<16} {'rank':>4} {'layer':>5} {'head':>4}  score")
    for name in report["names"]:
        ranked = report["top"][name]
        if not ranked:
            lines.append(f"{name:<16} {'':>4} {'':>5} {'':>4}    n/a (applies to no token)")
        for rank, h in enumerate(ranked, 1):
            label = name if rank == 1 else ""
            lines.append(f"{label:<16} {rank:>4} {h['layer']:>5} {h['head']:>4}  "
                         f"{h['score']:.3f}")
    lines.append("")
    for name in report["names"]:
        lines.extend(textwrap.wrap(f"{name}: {DESCRIPTIONS.get(name, '')}", max(width, 40),
                                   subsequent_indent="    "))
    return lines
