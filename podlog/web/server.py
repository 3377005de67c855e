"""Run the search API with uvicorn: listen address, token rules, and ``podlog serve``.

A token is required whenever the server listens on anything but loopback: the one given (``--token`` or
``PODLOG_TOKEN``), else the one saved in the store directory, else a new one generated, saved (mode 0600)
and printed once.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from typing import Any

__all__ = ["is_loopback", "make_server", "parse_listen", "resolve_token", "serve"]

TOKEN_FILE = "api-token"


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port``, ``:port`` or ``[::1]:port`` -> (host, port); the host defaults to loopback."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        host, port = "", listen
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"listen: expected host:port, got {listen!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"listen: port out of range in {listen!r}")
    return host, number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None, store_path: str) -> str | None:
    """The token the server requires, or None (loopback and none given)."""
    token = token or os.environ.get("PODLOG_TOKEN") or None
    if token or is_loopback(host):
        return token
    path = os.path.join(store_path, TOKEN_FILE)
    try:
        with open(path) as f:
            saved = f.read().strip()
        if saved:
            print(f"podlog: API token (from {path}) required on {host}", file=sys.stderr)
            return saved
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    print(f"podlog: listening on {host} (not loopback): generated API token {token} (saved in {path}); "
          "send it as 'Authorization: Bearer <token>' or ?token=<token>", file=sys.stderr)
    return token


def make_server(app: Any, host: str, port: int, log_level: str = "warning") -> Any:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            timeout_graceful_shutdown=2, lifespan="off")
    return uvicorn.Server(config)


def serve(store_path: str, listen: str, token: str | None = None) -> int:
    """``podlog serve``: the API over an existing store, in its own process (the agent keeps writing)."""
    from podlog.web.api import create_app

    try:
        host, port = parse_listen(listen)
        app = create_app(store_path, token=resolve_token(host, token, store_path))
    except (ValueError, FileNotFoundError) as exc:
        print(f"podlog: {exc}", file=sys.stderr)
        return 2
    print(f"podlog: search API on http://{host}:{port}/ over {store_path}", file=sys.stderr)
    make_server(app, host, port).run()
    return 0
