"""The server's memory budget: analyses are admitted by the peak memory they will add, so that
concurrent long requests cannot push the server out of memory.

An analysis is admitted (before it waits for the inference queue) when the work already
admitted plus its estimate (:func:`exbert.analysis.memory.estimate_bytes`) fits the budget
(the analyses kept by id give way: the cache is trimmed to what the budget leaves free);
otherwise it gets :class:`~exbert.errors.MemoryBudgetExceeded` (503 with Retry-After). One
that alone needs more than the whole budget gets :class:`~exbert.errors.TooLargeForBudget`
(422), naming the numbers and ``--memory-budget``. The bytes are released when the work
ends (see :class:`Ticket`).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Literal

from exbert.errors import MemoryBudgetExceeded, TooLargeForBudget

if TYPE_CHECKING:
    from exbert.analysis.memory import Mode
    from exbert.info import ModelInfo

DEFAULT_CACHE_BYTES = 2 * 1024**3
"""The analyses a server keeps by id (``exbert serve --cache-size``): a few long lazy ones."""
RETRY_AFTER_S = 5
"""What a 503 of the memory budget asks clients to wait (long analyses take seconds)."""

_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2,
          "MIB": 1024**2, "G": 1024**3, "GB": 1024**3, "GIB": 1024**3, "T": 1024**4,
          "TB": 1024**4, "TIB": 1024**4}


def parse_size(text: str) -> int:
    """``"6GB"``, ``"512MB"``, ``"1.5G"``, ``"2GiB"``, ``"1048576"`` -> bytes (binary units:
    1 GB = 1024^3 bytes). :class:`ValueError` on anything else."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else "?"
    if match is None or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (write e.g. 6GB, 512MB or a number of bytes)")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value < 1:
        raise ValueError(f"a size must be positive, not {text!r}")
    return value


def format_size(n: int) -> str:
    """Bytes as people read them: ``"1.5 GB"``, ``"320 MB"`` (binary units)."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n} B"


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, when the OS says."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def default_budget() -> int:
    """Half of the physical memory (the model, the cache and the OS keep the rest); 4 GB
    when the OS does not say."""
    total = physical_memory()
    return max(total // 2, 512 * 1024**2) if total else 4 * 1024**3


def plan(info: ModelInfo, n_tokens: int, attention: str) -> tuple[Mode, int]:
    """The mode an analysis of ``n_tokens`` runs in and the peak bytes it adds."""
    from exbert.analysis.memory import estimate_bytes, resolve_mode

    mode = resolve_mode(info, n_tokens, attention)
    return mode, int(estimate_bytes(info, n_tokens, mode))


class MemoryBudget:
    """Bytes admitted against ``budget``; :meth:`admit` holds an estimate while its work runs."""

    def __init__(self, budget: int) -> None:
        self.budget = int(budget)
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def free(self) -> int:
        return max(self.budget - self._admitted, 0)

    def admit(self, nbytes: int, what: str) -> Ticket:
        """Hold ``nbytes`` until the returned ticket is released; ``what`` says what needs
        them (in messages). :class:`TooLargeForBudget` when ``nbytes`` alone exceeds the
        budget, :class:`MemoryBudgetExceeded` when it does with the work admitted now."""
        nbytes = max(int(nbytes), 0)
        if nbytes > self.budget:
            raise TooLargeForBudget(
                f"{what} needs about {format_size(nbytes)} of memory; the server's memory "
                f"budget is {format_size(self.budget)}: analyse a shorter text, or start the "
                f"server with a larger budget (exbert serve --memory-budget "
                f"{_suggest(nbytes)})",
                needed_bytes=nbytes, budget_bytes=self.budget,
            )
        with self._lock:
            if self._admitted + nbytes > self.budget:
                raise MemoryBudgetExceeded(
                    f"the server is busy: {what} needs about {format_size(nbytes)} of memory "
                    f"and {format_size(self._admitted)} of its {format_size(self.budget)} "
                    f"budget are in use by other analyses; retry in a few seconds (or start "
                    f"the server with a larger --memory-budget)",
                    needed_bytes=nbytes, in_use_bytes=self._admitted,
                    budget_bytes=self.budget, retry_after=RETRY_AFTER_S,
                )
            self._admitted += nbytes
        return Ticket(self, nbytes)

    def _release(self, nbytes: int) -> None:
        with self._lock:
            self._admitted -= nbytes


class Ticket:
    """Admitted bytes, released once: by the work when it ran (:meth:`begin` then
    :meth:`release`), or by the request when the work never started (:meth:`abandon`: a
    client gone while it waited). Work that started keeps its bytes until it ends, even when
    its client is gone: the memory is in use until then."""

    def __init__(self, budget: MemoryBudget, nbytes: int) -> None:
        self._budget = budget
        self.nbytes = nbytes
        self._lock = threading.Lock()
        self._state: Literal["admitted", "running", "released"] = "admitted"

    def begin(self) -> bool:
        """The work starts (False: it was abandoned, do not run it)."""
        with self._lock:
            if self._state != "admitted":
                return False
            self._state = "running"
            return True

    def release(self) -> None:
        with self._lock:
            if self._state == "released":
                return
            self._state = "released"
        self._budget._release(self.nbytes)

    def abandon(self) -> None:
        """Release unless the work has started (then the work releases when it ends)."""
        with self._lock:
            if self._state != "admitted":
                return
            self._state = "released"
        self._budget._release(self.nbytes)


def _suggest(nbytes: int) -> str:
    """A ``--memory-budget`` value comfortably above ``nbytes`` (whole GB, or MB below 1 GB)."""
    mb = -(-nbytes * 5 // 4 // 1024**2)
    return f"{-(-mb // 1024)}GB" if mb > 1024 else f"{mb}MB"
