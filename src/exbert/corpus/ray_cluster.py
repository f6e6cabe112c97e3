"""A Ray cluster for a build or a server: started here (``--ray`` alone) or joined (``--ray
ADDRESS``), and left as found.

``RayConnection("")`` / ``RayConnection("local")`` starts a local Ray in this process
(``ray.init``: no dashboard, a modest object store, workers' logs kept out of the terminal)
and shuts it down at exit; ``RayConnection("127.0.0.1:6379")`` or ``"auto"`` connects to a
running cluster (``ray start --head``) and only disconnects at exit. Workers get this
process's exbert, Hugging Face and cache settings (``EXBERT_*``, ``HF_*``,
``TRANSFORMERS_*``, ``XDG_CACHE_HOME``) so they load the same models offline.

Errors are exbert errors, never a traceback: Ray not installed names ``pip install
'exbert[ray]'``; an address nobody answers at names the address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from types import TracebackType
from typing import Any

from exbert.errors import CorpusBuildError, ExbertError

log = logging.getLogger(__name__)

OBJECT_STORE_BYTES = 512 << 20  # a local Ray's object store (shards' sentences, unit blocks)
CONNECT_TIMEOUT_S = 5.0
ENV_PREFIXES = ("EXBERT_", "HF_", "TRANSFORMERS_")
ENV_NAMES = ("XDG_CACHE_HOME", "OMP_NUM_THREADS")
INSTALL_HINT = "pip install 'exbert[ray]'"


def import_ray(error: type[ExbertError] = CorpusBuildError) -> Any:
    """The ``ray`` module, or ``error`` saying how to install it."""
    try:
        import ray
        import ray.data  # the annotation stage needs Ray Data
    except ImportError as exc:
        raise error(
            f"--ray needs Ray with Ray Data, which is not installed ({exc.name or exc}): "
            f"{INSTALL_HINT}") from None
    return ray


def worker_env() -> dict[str, str]:
    """The environment variables workers need to load what this process loads."""
    return {k: v for k, v in os.environ.items()
            if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}


def _check_reachable(address: str, error: type[ExbertError] = CorpusBuildError) -> None:
    """A ``host:port`` address must accept a connection (``ray.init`` would otherwise retry
    for a long time before failing with a traceback)."""
    host, sep, port = address.rpartition(":")
    if address.startswith("ray://") or not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)),
                                      timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise error(
            f"cannot connect to the Ray cluster at {address} ({exc.strerror or exc}); start "
            "one with `ray start --head`, or pass --ray alone to start a local Ray",
            address=address) from None


def _token_auth() -> None:
    """A driver joining a cluster sends the cluster's token when one is saved here (``ray
    start --head`` saves it in ~/.ray/auth_token); Ray itself only does so when told."""
    from pathlib import Path

    if "RAY_AUTH_MODE" in os.environ:
        return
    saved = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or Path(saved).is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


class RayConnection:
    """Context manager: Ray started or joined at entry, stopped or left at exit."""

    def __init__(self, address: str | None = "",
                 error: type[ExbertError] = CorpusBuildError) -> None:
        self.address = (address or "").strip()
        self.error = error  # the class of this connection's errors
        self.started = False  # this process initialised Ray (and shuts it down)
        self._ray: Any = None

    @property
    def local(self) -> bool:
        return self.address in ("", "local")

    @property
    def ray(self) -> Any:
        assert self._ray is not None, "use RayConnection as a context manager"
        return self._ray

    def __enter__(self) -> RayConnection:
        ray = import_ray(self.error)
        self._ray = ray
        if ray.is_initialized():  # a caller already connected this process: use it as is
            return self
        for name in ("ray", "ray.data", "ray._private", "ray.util"):
            logging.getLogger(name).setLevel(logging.ERROR)
        common: dict[str, Any] = {
            "log_to_driver": False, "logging_level": logging.ERROR,
            "runtime_env": {"env_vars": worker_env()},
        }
        if self.local:
            kwargs: dict[str, Any] = {"include_dashboard": False,
                                      "object_store_memory": OBJECT_STORE_BYTES}
        else:
            _check_reachable(self.address, self.error)
            _token_auth()
            kwargs = {"address": self.address}
        try:
            ray.init(**common, **kwargs)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            where = "a local Ray" if self.local else f"the Ray cluster at {self.address}"
            raise self.error(f"cannot start or connect to {where}: {exc}",
                             address=self.address) from None
        self.started = True
        _quiet_data()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.started and self._ray is not None:
            with contextlib.suppress(Exception):
                self._ray.shutdown()  # a local Ray stops; a joined cluster is only left
            self.started = False

    def resources(self) -> dict[str, float]:
        """The cluster's total resources (``CPU``, ``GPU``, custom ones)."""
        return {k: float(v) for k, v in self.ray.cluster_resources().items()}


def _quiet_data() -> None:
    """Ray Data without progress bars on the terminal."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    with contextlib.suppress(AttributeError):
        ctx.print_on_execution_start = False
