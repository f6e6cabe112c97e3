"""The exit status of the ``exbert`` command: the one mapping from an outcome to a code.

An error's code is that of the nearest class in its method resolution order that the table
names, so a new subclass of :class:`~exbert.errors.ExbertError` gets its parent's code.
argparse itself exits 2 on a usage error, which is the code of invalid input here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from exbert.errors import (
    CorpusBuildError,
    CorpusError,
    CorpusInputError,
    ExbertError,
    ExportError,
    NoOutputHead,
    NotFound,
    QueueFull,
)


@dataclass(frozen=True)
class Exit:
    """Exit status ``code``, what it means, and the exception classes that end with it."""

    code: int
    meaning: str
    errors: tuple[type[BaseException], ...] = ()


EXITS = (
    Exit(0, "success"),
    Exit(1, "could not finish: a corpus build or an export stopped, an I/O error, a bug",
         (Exception, CorpusBuildError, ExportError, QueueFull)),
    Exit(2, "invalid usage or input (option, text, layer, head, mask; unsafe model; a bad "
         "corpus input record under --strict; a lens the model cannot give: --lens without "
         "an output head)", (ExbertError, CorpusInputError, NoOutputHead)),
    Exit(3, "not found: unknown model or corpus, or a part `exbert doctor` requires",
         (NotFound,)),
    Exit(4, "unusable corpus: corrupt, unfinished or built for another model", (CorpusError,)),
    Exit(130, "interrupted (Ctrl-C); a corpus build resumes when run again",
         (KeyboardInterrupt,)),
)

_CODE = {cls: e.code for e in EXITS for cls in e.errors}


def exit_code(exc: BaseException) -> int:
    """The exit status for ``exc`` (1 for anything the table does not name)."""
    for cls in type(exc).__mro__:
        if cls in _CODE:
            return _CODE[cls]
    return 1


def exit_codes_help() -> str:
    """The table for ``exbert --help``."""
    rows = "\n".join(f"  {e.code:<4} {e.meaning}" for e in EXITS)
    return f"exit status:\n{rows}"
