"""The work folder of a build, ``OUT.partial/``: its lock, the configuration its checkpoints
were made with (``build.json``), the shards (renamed into the corpus when it is published)
and the annotated sentences of each shard. Readers never look inside it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from exbert.corpus import storage
from exbert.corpus.config import BuildConfig
from exbert.errors import CorpusBuildError

log = logging.getLogger(__name__)

LOCK = "lock"
CONFIG = "build.json"


@dataclass(frozen=True)
class WorkDir:
    """``out``: the published corpus folder; ``partial``: its work folder beside it."""

    out: Path
    partial: Path

    @classmethod
    def of(cls, out: Path) -> WorkDir:
        return cls(out, out.with_name(out.name + ".partial"))

    @property
    def shards(self) -> Path:
        """The finished shards (:mod:`exbert.corpus.shards`)."""
        return self.partial / "shards"

    @property
    def annotations(self) -> Path:
        """The annotated sentences of each shard, for the annotation cache."""
        return self.partial / "annotations"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock of the work folder (created if needed); :class:`CorpusBuildError`
        when another build of this corpus holds it."""
        import fcntl

        self.partial.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.partial / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CorpusBuildError(
                    f"another build of this corpus is running (lock held on {self.partial}/"
                    f"{LOCK})",
                    path=str(self.partial),
                    locked=True,
                ) from None
            yield
        finally:
            os.close(fd)

    def prepare(self, config: BuildConfig) -> None:
        """Keep the checkpoints of an identical configuration, discard anything else."""
        path = self.partial / CONFIG
        try:
            old = json.loads(path.read_text()) if path.is_file() else None
        except ValueError:
            old = None
        if old is not None and old.get("key") == config.key:
            return
        if old is not None:
            log.warning("discarding an interrupted build with other settings in %s",
                        self.partial)
        for child in self.partial.iterdir():
            if child.name != LOCK:
                if child.is_dir():
                    storage.remove_tree(child)
                else:
                    child.unlink()
        storage.write_json(path, {"key": config.key, "config": config.to_dict()})
        storage.fsync_dir(self.partial)

    def forget_if_empty(self) -> None:
        """Remove a work folder that holds no finished shard (a build that failed at once)."""
        shards = self.shards
        if self.partial.is_dir() and not (shards.is_dir() and any(
                c.name.isdigit() for c in shards.iterdir())):
            storage.remove_tree(self.partial)

    def remove(self) -> None:
        storage.remove_tree(self.partial)
