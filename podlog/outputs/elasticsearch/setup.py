"""What the output learns and installs before the first bulk: server flavor and version, templates, policies.

Done lazily and retried: a cluster that is down when the agent starts must
not stop the agent, and nothing is sent before templates are in place (a
document indexed first would create its index with dynamic mappings).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

import orjson

from podlog.outputs._http import HttpClient, HttpError

__all__ = ["Server", "SetupError", "detect", "install_policy", "install_template"]

log = logging.getLogger("podlog.output.elasticsearch")


class SetupError(HttpError):
    """The cluster answered, but not as hoped (bad credentials, unsupported version, bad template)."""


@dataclass(frozen=True)
class Server:
    flavor: str  # "elasticsearch" or "opensearch"
    version: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.flavor} {'.'.join(map(str, self.version))}"

    @property
    def composable_templates(self) -> bool:
        """``/_index_template`` exists from Elasticsearch 7.8 and in every OpenSearch."""
        return self.flavor == "opensearch" or self.version >= (7, 8)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts) or (0,)


def _check(resp_status: int, what: str, data: bytes) -> None:
    if resp_status in (401, 403):
        raise SetupError(f"{what}: HTTP {resp_status}: check the credentials")
    if resp_status >= 300:
        snippet = data[:300].decode("utf-8", "replace")
        raise SetupError(f"{what}: HTTP {resp_status}: {snippet}")


def detect(client: HttpClient) -> Server:
    """``GET /``: Elasticsearch 7/8 and OpenSearch 1/2 need no ``_type``; older servers are refused."""
    resp = client.request("GET", "/")
    _check(resp.status, "GET /", resp.data)
    try:
        info = orjson.loads(resp.data)
        version = info["version"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise SetupError("GET / did not answer like Elasticsearch or OpenSearch") from None
    flavor = "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
    server = Server(flavor, _version(str(version.get("number", "0"))))
    if flavor == "elasticsearch" and server.version < (7,):
        raise SetupError(f"{server.label} is not supported (needs Elasticsearch 7+ or OpenSearch 1+)")
    return server


def _load_json(value: Any, what: str) -> dict[str, Any]:
    """A JSON body given as a dict, a JSON string, or a file path."""
    if isinstance(value, dict):
        return value
    text = str(value).strip()
    if not text.startswith("{"):
        try:
            with open(text, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise SetupError(f"{what}: cannot read {text}: {exc.strerror}") from None
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        raise SetupError(f"{what}: not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise SetupError(f"{what}: expected a JSON object")
    return loaded


def _exists(client: HttpClient, path: str) -> bool:
    resp = client.request("HEAD" if "_ilm" not in path and "_ism" not in path else "GET", path)
    if resp.status == 404:
        return False
    _check(resp.status, f"checking {path}", resp.data)
    return True


def install_template(
    client: HttpClient, server: Server, name: str, body: Any, *, legacy: bool, overwrite: bool
) -> bool:
    """PUT the index template unless it exists (or ``overwrite``); True if it was written."""
    template = _load_json(body, f"template {name}")
    kind = "_template" if legacy or not server.composable_templates else "_index_template"
    path = f"/{kind}/{urllib.parse.quote(name, safe='')}"
    if not overwrite and _exists(client, path):
        return False
    resp = client.request("PUT", path, orjson.dumps(template), {"Content-Type": "application/json"})
    _check(resp.status, f"PUT {path}", resp.data)
    log.info("installed index template %s on %s", name, server.label)
    return True


def install_policy(client: HttpClient, server: Server, policy_id: str, body: Any, *, overwrite: bool) -> bool:
    """PUT an ILM policy (Elasticsearch) or ISM policy (OpenSearch); True if it was written."""
    if not body and server.flavor == "opensearch":
        raise SetupError("ilm_policy is required on OpenSearch (an ISM policy body); there is no default")
    # Fluentd's default policy: roll over daily-ish indices at 30 days or 50 GB, delete nothing.
    policy = _load_json(body, f"policy {policy_id}") if body else {
        "policy": {"phases": {"hot": {"min_age": "0ms",
                                      "actions": {"rollover": {"max_age": "30d", "max_size": "50gb"}}}}}}
    quoted = urllib.parse.quote(policy_id, safe="")
    path = f"/_plugins/_ism/policies/{quoted}" if server.flavor == "opensearch" else f"/_ilm/policy/{quoted}"
    if not overwrite and _exists(client, path):
        return False
    resp = client.request("PUT", path, orjson.dumps(policy), {"Content-Type": "application/json"})
    _check(resp.status, f"PUT {path}", resp.data)
    log.info("installed lifecycle policy %s on %s", policy_id, server.label)
    return True
