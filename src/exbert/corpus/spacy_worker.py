"""The spaCy child process of a corpus build (see ``sources.SentenceSource``).

Protocol, JSON lines: the child writes ``{"meta": {...}}`` once the pipeline is loaded (or
``{"error": ..., "kind": "corpus"}``), then reads job lines from stdin until it closes:

- a stream ``{"inputs", "cursor", "min_words"}``: ``{"s": sentence}`` per sentence of the
  inputs from the cursor on, then ``{"end": true}``;
- a block ``{"inputs", "cursor", "block", "block_units", "min_words"}``
  (:mod:`exbert.corpus.blocks`): ``{"s": sentence}`` per sentence of that block, then
  ``{"done": block, "eof": bool}``.

A failure is ``{"error": ..., "kind": "build"}``. It exits when the parent goes away (broken
pipe).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

WITH_TORCH_ENV = "EXBERT_SPACY_WORKER_TORCH"


def main() -> int:
    # spaCy's CNN pipelines (en_core_web_sm, fr_core_news_sm...) run on numpy; thinc imports
    # torch only to offer it, which slows the worker's start and costs memory. The first
    # attempt hides torch; a pipeline that needs it (transformer pipelines) fails to load,
    # and the worker then starts again, same process, with torch.
    with_torch = os.environ.get(WITH_TORCH_ENV) == "1"
    if not with_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]  # import torch -> ImportError
    from exbert.corpus import annotate as ann
    from exbert.errors import CorpusError, ExbertError

    out = sys.stdout.buffer

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")

    try:
        try:
            nlp = ann.load_pipeline(sys.argv[1])
        except CorpusError as exc:
            send({"error": exc.message, "kind": "corpus"})
            out.flush()
            return 1
        except Exception:
            if with_torch:
                raise
            os.environ[WITH_TORCH_ENV] = "1"
            os.execv(sys.executable, [sys.executable, "-m", "exbert.corpus.spacy_worker",
                                      *sys.argv[1:]])
        send({"meta": {"version": str(nlp.meta.get("version", "")), "lang": str(nlp.lang),
                       "components": list(nlp.pipe_names), "name": sys.argv[1],
                       "torch": with_torch}})
        out.flush()
        readers: dict[tuple[str, ...], Any] = {}
        for line in sys.stdin.buffer:
            job = json.loads(line)
            try:
                _job(nlp, job, send, readers)
            except ExbertError as exc:
                send({"error": exc.message, "kind": "build"})
            except Exception as exc:  # reported to the parent as a build error
                send({"error": f"spaCy failed: {type(exc).__name__}: {exc}", "kind": "build"})
            out.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    return 0


def _job(nlp: Any, job: dict[str, Any], send: Any, readers: dict[tuple[str, ...], Any]) -> None:
    from exbert.corpus import annotate as ann
    from exbert.corpus.blocks import BlockReader, annotate_block
    from exbert.corpus.input_set import read_inputs

    inputs = [Path(p) for p in job["inputs"]]
    cursor = (int(job["cursor"][0]), int(job["cursor"][1]))
    if "block" in job:
        key = tuple(job["inputs"])
        if key not in readers:
            readers.clear()
            readers[key] = BlockReader(inputs)
        sentences, eof = annotate_block(nlp, readers[key], cursor, int(job["block"]),
                                        int(job["min_words"]), int(job["block_units"]))
        for d in sentences:
            send({"s": d})
        send({"done": int(job["block"]), "eof": eof})
        return
    units = read_inputs(inputs, start=cursor[0])
    for s in ann.annotate(nlp, units, min_words=int(job["min_words"]), skip_first=cursor[1]):
        send({"s": dataclasses.asdict(s)})
    send({"end": True})


if __name__ == "__main__":
    sys.exit(main())
