"""The Hugging Face hub, seen from a loader: can anything be downloaded right now?

:func:`hub_unavailable` says at once why not (offline mode, or no connection), so that
loaders read only the local cache instead of retrying downloads that cannot succeed (the
hub client retries for about a minute); :func:`missing_model_reason` words the error.
Used by the reasoner runtime and the perception model loaders alike.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlsplit

HUB_CONNECT_TIMEOUT_S = 3.0
_TRUE = {"1", "true", "yes", "on"}


def hub_offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (huggingface_hub's own switch) is set."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


@functools.cache
def _unreachable(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as err:
        return f"{host}:{port} is unreachable ({err.strerror or type(err).__name__})"


def hub_unavailable(timeout: float = HUB_CONNECT_TIMEOUT_S) -> str | None:
    """Why nothing can be downloaded from the model hub now, or None when it may be.

    ``HF_HUB_OFFLINE`` set, or a TCP connection to the hub (``HF_ENDPOINT``; through
    ``HTTPS_PROXY`` when one is set) failing within ``timeout`` seconds. Checked once per
    process: without it, a missing model costs a minute of the hub client's retries."""
    if hub_offline_mode():
        return "HF_HUB_OFFLINE is set"
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlsplit(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (80 if url.scheme == "http" else 443)
    return _unreachable(url.hostname or "huggingface.co", port, timeout)


def missing_model_reason(err: BaseException, *, local_only: bool) -> str:
    """A one-line reason a model failed to load: when only the local cache could be read,
    that it is not there and why nothing was downloaded; else the error's first line."""
    if local_only:
        why = hub_unavailable()
        if why:
            return f"not in the local Hugging Face cache, and nothing can be downloaded: {why}"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
