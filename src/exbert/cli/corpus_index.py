"""``exbert corpus index DIR --approximate``: add approximate indexes to an existing corpus
(a thin layer over :func:`exbert.corpus.indexing.add_approximate`).

    exbert corpus index corpora/holmes-minilm --approximate
    exbert corpus index corpora/holmes-minilm --approximate --force --json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from exbert.cli.options import add_command
from exbert.errors import InvalidRequest


def add_index(sub: Any) -> None:
    """``corpus index`` under the corpus subcommands ``sub``."""
    p = add_command(sub, "index", run_index,
                    help="add approximate (IVF) indexes to an existing corpus",
                    description="Build an approximate index per shard and stored layer of an "
                                "existing corpus, written into its shard folders; the new "
                                "manifest replaces the old one atomically (an interrupted run "
                                "leaves the corpus as it was).")
    p.add_argument("corpus", metavar="DIR")
    p.add_argument("--approximate", action="store_true",
                   help="build the approximate indexes (IVF-PQ; IVF-Flat for small shards)")
    p.add_argument("--force", action="store_true",
                   help="rebuild the approximate indexes the corpus already has")
    p.add_argument("--json", action="store_true", help="print what it did as JSON")


def run_index(args: argparse.Namespace) -> int:
    """Index the corpus and print what was done (indexes, bytes, seconds)."""
    from exbert.corpus.indexing import add_approximate

    if not args.approximate:
        raise InvalidRequest("say which index to add: --approximate")
    log = None if args.json else (lambda line: print(f"  {line}", flush=True))
    report = add_approximate(args.corpus, force=args.force, log=log)
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
        return 0
    kept = sum(len(v) for v in report.kept.values())
    if not report.n_built:
        print(f"{args.corpus}: every shard already has its approximate indexes ({kept}); "
              "nothing to do (--force rebuilds them)")
        return 0
    print(f"{args.corpus}: {report.n_built} approximate indexes added in {len(report.built)} "
          f"shards ({report.bytes_written / 1e6:.1f} MB, {report.seconds:.1f} s)"
          f"{f'; {kept} kept' if kept else ''}")
    return 0
