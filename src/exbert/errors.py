"""The one error hierarchy of exbert.

Every error the library raises on purpose derives from :class:`ExbertError`. Each class carries
the HTTP status it maps to, so the server translates errors in one place
(:mod:`exbert.server.errors`); the CLI prints ``message`` without a traceback and exits with
the status that :mod:`exbert.cli.exits` derives from this hierarchy.
"""

from __future__ import annotations

from typing import Any


class ExbertError(Exception):
    """Root of all exbert errors. ``details`` holds machine-readable facts (counts, limits)."""

    status: int = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "status": self.status,
            "details": self.details,
        }


class InvalidInput(ExbertError):
    """The caller's input cannot be analysed (HTTP 422)."""

    status = 422


class EmptyText(InvalidInput):
    """Text that is empty or only whitespace."""


class TextTooLong(InvalidInput):
    """More tokens than the model's positions or the configured memory cap."""


class AttentionTooLarge(InvalidInput):
    """Full attention asked for an input whose [layers, heads, T, T] tensor is past the limit
    (``exbert.view.MAX_FULL_ATTENTION_BYTES``); the lazy engine has no such limit."""


class TooLargeForBudget(InvalidInput):
    """One request that alone needs more memory than the server's budget (``--memory-budget``)."""


class InvalidMask(InvalidInput):
    """Mask positions out of range or on special tokens."""


class MaskNotSupported(InvalidInput):
    """Masking asked of a model that has no mask token."""


class InvalidRequest(InvalidInput):
    """A request that is well-formed JSON but not meaningful (bad layer, head, ...)."""


class NoOutputHead(InvalidRequest):
    """A lens that needs the model's output head (logit lens, predictions) asked of a model
    that has none (an encoder such as MiniLM): the message says so and names what to load."""


class NotFound(ExbertError):
    """A named resource the server does not have (HTTP 404)."""

    status = 404


class UnknownAnalysis(NotFound):
    """An analysis id the server does not (or no longer) keep: analyse the text again."""


class UnknownModel(NotFound):
    """A model name that is not an alias, a local folder, a GGUF file or a hub id."""


class UnknownCorpus(NotFound):
    """A corpus name the server was not started with."""


class ModelLoadError(ExbertError):
    """A model that exists but cannot be loaded safely or at all."""

    status = 422


class UnsafeModel(ModelLoadError):
    """Weights only in pickle form, or a config that needs remote code."""


class CorpusError(ExbertError):
    """A corpus that cannot be used."""

    status = 409


class CorpusCorrupt(CorpusError):
    """Checksums or sizes that do not match the manifest."""


class CorpusMismatch(CorpusError):
    """A corpus built for another model, tokenizer or schema version."""


class CorpusBuildError(CorpusError):
    """A corpus build that stopped (write fault, disk full, bad input); the partial build is
    kept so that the same command resumes it."""

    status = 500


class CorpusInputError(CorpusBuildError):
    """Input a corpus build cannot read: a bad record under ``--strict``, no text column, not
    UTF-8. Nothing was written; fix the input (or drop ``--strict``) and build again."""

    status = 422


class ExportError(ExbertError):
    """An export that cannot be made here (no bundle built, no Chromium, ...)."""

    status = 500


class QueueFull(ExbertError):
    """The inference queue is full; retry later (HTTP 503 with Retry-After)."""

    status = 503


class MemoryBudgetExceeded(QueueFull):
    """Admitting this request now would pass the server's memory budget while others run;
    retry later (HTTP 503 with Retry-After)."""


class PayloadTooLarge(ExbertError):
    """A request body over the server's limit (HTTP 413)."""

    status = 413
