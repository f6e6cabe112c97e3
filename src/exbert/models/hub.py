"""Hub ids that fail fast offline.

huggingface_hub retries a failed metadata request five times with a growing back-off (about
25 s) before transformers reports "couldn't connect". Before a hub id is loaded, exbert
therefore checks, in about a second, what the libraries would find:

- ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``) and the id not in the local Hugging Face
  cache: :class:`UnknownModel` at once, naming the local alternatives;
- the hub endpoint (``HF_ENDPOINT``, or the proxy that would carry the request) refusing or not
  answering a TCP connection within :data:`PROBE_TIMEOUT_S`: the id is loaded from the local
  cache only (``local_files_only``, no request, no retry), or :class:`UnknownModel` when it is
  not there;
- else the libraries' own path (downloads, their retries on a flaky network).
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import urllib.request
from typing import Any

from exbert.errors import UnknownModel
from exbert.models.registry import SHIPPED

PROBE_TIMEOUT_S = 1.5
_TRUE = {"1", "ON", "YES", "TRUE"}


def offline_mode() -> bool:
    """huggingface_hub's own switch: ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` true."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in _TRUE


def endpoint() -> str:
    """The hub endpoint huggingface_hub uses (``HF_ENDPOINT``, default huggingface.co)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def local_alternatives() -> str:
    """What works without a network, for error messages."""
    return (
        f"use a shipped model ({', '.join(SHIPPED)}; `exbert models` lists them), a local model "
        "folder with config.json and *.safetensors weights, a .gguf file, or a hub id "
        "downloaded before (kept in the Hugging Face cache)"
    )


def in_local_cache(repo_id: str, revision: str | None) -> bool:
    """Whether the hub id's config is in the local Hugging Face cache (no request made)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except ValueError:  # not a valid repo id
        return False
    return isinstance(found, str)


def unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``url``'s host (or the proxy for it) cannot be reached, or None when a TCP
    connection opens within ``timeout`` seconds (name resolution included)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme or "https") or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if p.scheme not in ("http", "https"):  # socks and others: leave it to the libraries
            return None
        host, port = p.hostname or host, p.port or (443 if p.scheme == "https" else 80)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port}: {exc.strerror or exc}")

    thread = threading.Thread(target=connect, name="exbert-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)  # name resolution has no timeout of its own
    if not outcome:
        return f"{host}:{port}: no answer within {timeout:g} s"
    return outcome[0]


def hub_options(repo_id: str, revision: str | None) -> dict[str, Any]:
    """The ``from_pretrained`` options for hub id ``repo_id`` after the checks above:
    ``{"local_files_only": True}`` when the hub is unreachable but the id is cached, ``{}``
    to let the libraries download; :class:`UnknownModel` when neither can work."""
    if offline_mode():
        if in_local_cache(repo_id, revision):
            return {"local_files_only": True}
        raise UnknownModel(
            f"{repo_id!r} is not a shipped model, a local folder or a .gguf file, and it is not "
            "in the local Hugging Face cache; HF_HUB_OFFLINE=1 forbids downloading it. "
            f"Offline, {local_alternatives()}; or unset HF_HUB_OFFLINE to download it.",
            model=repo_id, offline=True,
        )
    url = endpoint()
    reason = unreachable(url)
    if reason is None:
        return {}
    if in_local_cache(repo_id, revision):
        return {"local_files_only": True}
    raise UnknownModel(
        f"{repo_id!r} is not a shipped model, a local folder or a .gguf file, and the Hugging "
        f"Face hub ({url}) cannot be reached ({reason}) to download it. To work offline set "
        f"HF_HUB_OFFLINE=1 and {local_alternatives()}.",
        model=repo_id, offline=True,
    )
