"""A real two-node Ray cluster on this machine for the Ray tests: a head (``ray start --head``,
1 CPU, resource ``head``) and a second node (``ray start --address``, 1 CPU, resource
``node2``, its own temp folder), both from this venv's ``ray``, started by the test and
stopped after it (``ray stop`` per node, then the process groups killed, whatever failed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_env(temp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0",
                "TOKENIZERS_PARALLELISM": "false", "RAY_TMPDIR": str(temp),
                # a busy 2-core machine registers a node slowly (default 10 s)
                "RAY_raylet_start_wait_time_s": "180"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return env


def token_auth(env: dict[str, str]) -> None:
    """Nodes and drivers that join send the head's token when it saved one (Ray 2.5x:
    ~/.ray/auth_token), as exbert's own driver does."""
    if "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").is_file():
        env["RAY_AUTH_MODE"] = "token"


@dataclass
class RayTestCluster:
    address: str
    root: Path
    env: dict[str, str]
    nodes: list[tuple[Path, subprocess.Popen[bytes]]] = field(default_factory=list)

    def node_count(self) -> int:
        out = subprocess.run(
            [sys.executable, "-c", f"import ray, json; ray.init(address={self.address!r}, log_to_driver=False); "
             "print(json.dumps(sum(1 for n in ray.nodes() if n['Alive'])))"],
            capture_output=True, env=self.env, timeout=120, check=True)
        return int(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def _ports() -> list[str]:
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port())]


OBJECT_STORE = str(200 << 20)


def _start(args: list[str], temp: Path, env: dict[str, str], log: Path
           ) -> subprocess.Popen[bytes]:
    """One `ray start --block` in its own process group (so teardown can kill all of it)."""
    out = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats",
                             f"--temp-dir={temp}", f"--object-store-memory={OBJECT_STORE}", *_ports(),
                             *args],
                            stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _wait_nodes(cluster: RayTestCluster, want: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        for _, proc in cluster.nodes:
            if proc.poll() is not None:
                raise RuntimeError(f"a Ray node exited: {_logs(cluster)}")
        try:
            if cluster.node_count() >= want:
                return
        except (subprocess.SubprocessError, ValueError) as exc:
            last = exc
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster did not come up ({last}): {_logs(cluster)}")


def _logs(cluster: RayTestCluster) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:]
                     for p in sorted(cluster.root.glob("*.log")))


@contextlib.contextmanager
def two_node_cluster() -> Iterator[RayTestCluster]:
    root = Path(tempfile.mkdtemp(prefix="exr-", dir="/tmp"))  # short: Ray's socket paths
    env = cluster_env(root)
    port = free_port()
    cluster = RayTestCluster(f"127.0.0.1:{port}", root, env)
    try:
        head_tmp, node_tmp = root / "h", root / "n"
        cluster.nodes.append((head_tmp, _start(
            ["--head", f"--port={port}", "--num-cpus=1",
             "--num-gpus=0", '--resources={"head": 1}', "--include-dashboard=false"],
            head_tmp, env, root / "head.log")))
        token_auth(env)
        _wait_nodes(cluster, 1, 120)
        cluster.nodes.append((node_tmp, _start(
            [f"--address={cluster.address}", "--num-cpus=1",
             "--num-gpus=0", '--resources={"node2": 1}'], node_tmp, env, root / "node2.log")))
        _wait_nodes(cluster, 2, 120)
        yield cluster
    finally:
        stop(cluster)


def stop(cluster: RayTestCluster) -> None:
    """Stop every node: SIGTERM to each `ray start --block` group, then SIGKILL what is left."""
    for _, proc in reversed(cluster.nodes):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    for _, proc in reversed(cluster.nodes):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    _kill_leftovers(cluster.root)
    shutil.rmtree(cluster.root, ignore_errors=True)


def _kill_leftovers(root: Path) -> None:
    """Ray processes that left the groups (raylet, gcs, workers) but still use our temp
    folder: found by their command line, killed by pid."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmd:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


_SHARED: dict[str, RayTestCluster] = {}


def shared_cluster(config: object) -> RayTestCluster:
    """One two-node cluster for the whole test session (the Ray test modules share it: it
    takes about a minute to start here), stopped when the session ends (``config``: pytest's
    ``request.config``)."""
    if "cluster" not in _SHARED:
        manager = two_node_cluster()
        _SHARED["cluster"] = manager.__enter__()

        def stop_shared() -> None:
            _SHARED.pop("cluster", None)
            manager.__exit__(None, None, None)

        config.add_cleanup(stop_shared)  # type: ignore[attr-defined]
    return _SHARED["cluster"]
