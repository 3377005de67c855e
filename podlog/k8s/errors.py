"""Errors of the Kubernetes API client, one class per answer a caller handles differently.

::

    ApiError                 any non-2xx answer; status, reason and message from the Status body
    ├── Unauthorized         401: no or a bad token (a rotated token is re-read and retried once first)
    ├── Forbidden            403: RBAC does not allow this verb on this resource
    ├── NotFound             404
    ├── Conflict             409: AlreadyExists on create, Conflict on a stale resourceVersion
    ├── Expired              410 Gone (reason Expired): the resourceVersion or continue token was compacted;
    │                        re-list and watch from the new resourceVersion
    └── Unreachable          no answer at all: connection refused, TLS failure, a stream cut mid-way
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "Conflict", "Expired", "Forbidden", "NotFound", "Unauthorized", "Unreachable"]


class ApiError(Exception):
    """A failed API call; ``status`` is the HTTP code (0 when there was no answer)."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}


class Unauthorized(ApiError):
    """401: the API server did not accept the credentials."""


class Forbidden(ApiError):
    """403: authenticated, but RBAC does not grant the verb on the resource."""


class NotFound(ApiError):
    """404: no such object (or no such resource type on this server)."""


class Conflict(ApiError):
    """409: the object exists already, or was changed since the resourceVersion the caller sent."""


class Expired(ApiError):
    """410 Gone: the resourceVersion (or continue token) is older than the server's history."""


class Unreachable(ApiError):
    """No usable answer: refused or timed-out connection, TLS error, or a watch stream cut mid-way."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unreachable", message)


_BY_STATUS: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
                                         410: Expired}


def error_from_status(status: int, body: dict[str, Any] | None, fallback: str = "") -> ApiError:
    """The error for an HTTP answer or a watch ERROR event carrying a ``Status`` object."""
    body = body if isinstance(body, dict) else {}
    code = int(body.get("code") or status or 0)
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or fallback or reason or f"HTTP {code}")
    cls = _BY_STATUS.get(code, ApiError)
    if reason == "Expired" or reason == "Gone":
        cls = Expired
    return cls(code, reason or cls.__name__, message, body)
