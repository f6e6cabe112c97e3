"""Annotation as a Ray Data stage: blocks of input units -> an actor pool of spaCy
annotators (``map_batches`` with a callable class, ``batch_size=1``, an ``ActorPoolStrategy``
of N actors: each loads the pipeline once) -> annotated sentences, in input order
(``preserve_order``).

:class:`RaySentences` has the interface of :class:`exbert.corpus.sources.SpacyProcess`
(``meta``, ``run(inputs, cursor, min_words, wanted)``, ``next()``, ``busy``, ``close()``), so
the build takes its sentences from either. The driver reads the units (the input files need
only be readable here) in windows of blocks that grow up to WINDOW_UNITS units, so memory
stays bounded by a window whatever the input's size, and a build that wants few sentences
annotates little more than it takes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from exbert.corpus.inputs import ReadOptions, Unit, read_units
from exbert.errors import CorpusBuildError, CorpusError, ExbertError

BLOCK_UNITS = 64  # units (paragraphs, records) per block: one actor call
WINDOW_UNITS = 32_768  # units per Ray Data dataset at most (the first windows are smaller)
SPACY_CPUS = 0.25  # CPUs reserved per spaCy actor (the forward actors need the rest)


def _load(pipeline: str) -> tuple[Any, bool]:
    """The spaCy pipeline, loaded with torch hidden when it can be (as the spaCy child
    process does: CNN pipelines run on numpy); returns (nlp, needed torch)."""
    from exbert.corpus import annotate as ann

    if "torch" in sys.modules and sys.modules["torch"] is not None:
        return ann.load_pipeline(pipeline), True
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        return ann.load_pipeline(pipeline), False
    except CorpusError:
        raise
    except Exception:
        sys.modules.pop("torch", None)
        return ann.load_pipeline(pipeline), True
    finally:
        if sys.modules.get("torch", 0) is None:
            sys.modules.pop("torch", None)


def pipeline_meta(pipeline: str) -> dict[str, Any]:
    """What the spaCy child process reports (``{"meta": ...}`` or ``{"error", "kind"}``)."""
    try:
        nlp, torch = _load(pipeline)
    except CorpusError as exc:
        return {"error": exc.message, "kind": "corpus"}
    except Exception as exc:
        return {"error": f"spaCy failed to load {pipeline}: {exc}", "kind": "build"}
    return {"meta": {"version": str(nlp.meta.get("version", "")), "lang": str(nlp.lang),
                     "components": list(nlp.pipe_names), "name": pipeline, "torch": torch}}


class SpacyAnnotator:
    """The Ray Data actor: one spaCy pipeline, one block of units per call."""

    def __init__(self, pipeline: str) -> None:
        self.nlp, _ = _load(pipeline)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from exbert.corpus import annotate as ann

        out: list[str] = []
        for job_text in batch["job"]:
            job = json.loads(str(job_text))
            units = (Unit(int(i), str(t), bool(s)) for i, t, s in job["units"])
            try:
                sentences = [dataclasses.asdict(s) for s in ann.annotate(
                    self.nlp, units, min_words=int(job["min_words"]),
                    skip_first=int(job["skip"]))]
                out.append(json.dumps({"s": sentences}, ensure_ascii=False))
            except ExbertError as exc:
                out.append(json.dumps({"error": exc.message}))
            except Exception as exc:  # reported to the driver as a build error
                out.append(json.dumps({"error": f"spaCy failed: {type(exc).__name__}: {exc}"}))
        return {"block": np.asarray(batch["block"]), "out": np.asarray(out, dtype=object)}


class RaySentences:
    """Annotated sentences from a Ray Data stage (see the module docstring)."""

    def __init__(self, ray: Any, pipeline: str, read_options: ReadOptions | None = None,
                 workers: int | None = None) -> None:
        self._ray = ray
        self.pipeline = pipeline
        self.read_options = read_options or ReadOptions()
        cpus = float(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, workers if workers else int(cpus // 2) or 1)
        meta_task = ray.remote(num_cpus=SPACY_CPUS, max_retries=2)(pipeline_meta)
        msg: dict[str, Any] = ray.get(meta_task.remote(pipeline))
        if "error" in msg:
            cls = CorpusError if msg.get("kind") == "corpus" else CorpusBuildError
            raise cls(str(msg["error"]), pipeline=pipeline)
        self.meta: dict[str, Any] = msg["meta"]
        self._stream: Iterator[dict[str, Any]] | None = None

    def run(self, inputs: Path | Sequence[Path], cursor: tuple[int, int], min_words: int,
            wanted: int | None = None) -> None:
        """Start the stream at ``cursor``; ``wanted``: how many sentences the build expects
        to take: windows of units are annotated only as the build asks for sentences, and
        the first windows are small, so a build that wants few reads little more."""
        del wanted
        paths = [Path(inputs)] if isinstance(inputs, (str, Path)) else [Path(p) for p in inputs]
        self._stream = self._sentences(paths, (int(cursor[0]), int(cursor[1])), min_words)

    @property
    def busy(self) -> bool:
        """The driver runs no forward pass of its own beside a Ray build: never busy here."""
        return False

    def next(self) -> dict[str, Any] | None:
        assert self._stream is not None, "run() first"
        try:
            return next(self._stream, None)
        except ExbertError:
            raise
        except Exception as exc:  # a Ray failure: said in words, not as a traceback
            raise CorpusBuildError(f"the Ray annotation stage failed: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}") from None

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()  # type: ignore[attr-defined]

    def _units(self, paths: list[Path], start: int) -> Iterator[Unit]:
        if len(paths) == 1:
            return read_units(paths[0], start, self.read_options)
        return read_units(paths, start, self.read_options)  # type: ignore[arg-type]

    def _sentences(self, paths: list[Path], cursor: tuple[int, int], min_words: int
                   ) -> Iterator[dict[str, Any]]:
        units = self._units(paths, cursor[0])
        skip = cursor[1]
        size = BLOCK_UNITS * self.workers * 2
        while True:
            window = list(islice(units, size))
            if not window:
                return
            jobs: list[dict[str, Any]] = []
            for k in range(0, len(window), BLOCK_UNITS):
                block = [[u.index, u.text, u.split] for u in window[k:k + BLOCK_UNITS]]
                jobs.append({"block": len(jobs), "job": json.dumps(
                    {"units": block, "skip": skip, "min_words": min_words})})
                skip = 0
            del window
            yield from self._annotate(jobs)
            size = min(WINDOW_UNITS, size * 4)

    def _annotate(self, jobs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ds = self._ray.data.from_items(jobs).map_batches(
            SpacyAnnotator, fn_constructor_args=(self.pipeline,), batch_size=1,
            compute=ActorPoolStrategy(size=min(self.workers, len(jobs))), num_cpus=SPACY_CPUS,
            batch_format="numpy")
        expect = 0
        # the executor's output blocks in order, read here: no iterator threads (prefetchers)
        # that would outlive the stream; closing the iterator stops the execution
        bundles = iter(ds.iter_internal_ref_bundles())
        try:
            for bundle in bundles:
                batch = _columns(self._ray, bundle)
                for block, out in zip(batch["block"], batch["out"], strict=True):
                    if int(block) != expect:  # preserve_order is the contract
                        raise CorpusBuildError(
                            f"Ray Data returned block {int(block)} where {expect} was expected")
                    expect += 1
                    msg = json.loads(str(out))
                    if "error" in msg:
                        raise CorpusBuildError(str(msg["error"]))
                    yield from msg["s"]
        finally:
            close = getattr(bundles, "close", None)
            if close is not None:
                close()


def _columns(ray: Any, bundle: Any) -> dict[str, list[Any]]:
    """The rows of a Ray Data ``RefBundle``'s blocks, as columns ``block`` and ``out``."""
    from ray.data.block import BlockAccessor

    out: dict[str, list[Any]] = {"block": [], "out": []}
    for entry in bundle.blocks:
        ref = entry[0] if isinstance(entry, tuple) else entry.ref
        table = BlockAccessor.for_block(ray.get(ref)).to_numpy(["block", "out"])
        out["block"].extend(table["block"].tolist())
        out["out"].extend(table["out"].tolist())
    return out
