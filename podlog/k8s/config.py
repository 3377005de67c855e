"""Where the API server is and how to authenticate: in-cluster ServiceAccount, kubeconfig, or explicit options.

In a pod, kubelet mounts the ServiceAccount token, CA and namespace under
``/var/run/secrets/kubernetes.io/serviceaccount`` and sets
``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT``. Projected tokens are
rotated by kubelet (about hourly, valid longer), so the token is re-read from
its file: when the file changes, at least once a minute, and after a 401.

Outside a cluster a kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``) names
the server, CA and credentials of its current context: a token or token file,
or a client certificate and key (inline ``*-data`` or files). Exec and
auth-provider plugins are not run; they are reported as unsupported.
"""

from __future__ import annotations

import base64
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SERVICEACCOUNT_DIR", "ApiConfig", "ConfigError", "TokenSource", "in_cluster", "kubeconfig", "resolve"]

SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_REREAD_EVERY = 60.0


class ConfigError(Exception):
    """No usable API configuration (not in a cluster and no kubeconfig, or an unsupported one)."""


class TokenSource:
    """A bearer token, fixed or read from a file that may be rotated under us."""

    def __init__(self, token: str = "", path: str = "", clock: Any = time.monotonic) -> None:
        self._token = token.strip()
        self.path = path
        self._clock = clock
        self._read_at = -1e18
        self._stamp: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        if not self.path:
            return self._token
        with self._lock:
            now = self._clock()
            stamp = self._file_stamp()
            if stamp != self._stamp or now - self._read_at >= _REREAD_EVERY:
                self._reload(stamp, now)
            return self._token

    def invalidate(self) -> None:
        """After a 401: read the file again on the next request."""
        with self._lock:
            self._read_at = -1e18
            self._stamp = None

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime, st.st_ino)

    def _reload(self, stamp: tuple[float, int] | None, now: float) -> None:
        try:
            self._token = Path(self.path).read_text().strip()
        except OSError:
            pass  # keep the last token: a rotation replaces the file atomically, a brief gap is harmless
        self._stamp, self._read_at = stamp, now


@dataclass
class ApiConfig:
    """One API server and the credentials to use with it."""

    server: str
    token: TokenSource = field(default_factory=TokenSource)
    ca_file: str = ""
    verify: bool = True
    client_cert: str = ""
    client_key: str = ""
    username: str = ""
    password: str = ""
    namespace: str = "default"
    source: str = ""  # where this came from, for log lines


def in_cluster(sa_dir: Path = SERVICEACCOUNT_DIR, env: dict[str, str] | None = None) -> ApiConfig:
    """The pod's own ServiceAccount; ConfigError when not running in a pod."""
    env = dict(os.environ) if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("not in a cluster: KUBERNETES_SERVICE_HOST is not set")
    token = sa_dir / "token"
    if not token.is_file():
        raise ConfigError(f"in a cluster but no ServiceAccount token at {token} (automountServiceAccountToken?)")
    ns_file = sa_dir / "namespace"
    host = f"[{host}]" if ":" in host else host
    return ApiConfig(
        server=f"https://{host}:{port}", token=TokenSource(path=str(token)),
        ca_file=str(sa_dir / "ca.crt") if (sa_dir / "ca.crt").is_file() else "",
        namespace=ns_file.read_text().strip() if ns_file.is_file() else "default", source="in-cluster")


def kubeconfig(path: str = "", context: str = "", materialise_dir: str = "") -> ApiConfig:
    """The current (or named) context of a kubeconfig file."""
    import yaml  # only outside the cluster

    path = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    base = Path(path).parent
    name = context or doc.get("current-context") or ""
    ctx = _named(doc, "contexts", "context", name, path)
    cluster = _named(doc, "clusters", "cluster", ctx.get("cluster", ""), path)
    user = _named(doc, "users", "user", ctx.get("user", ""), path) if ctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise ConfigError(f"{path}: user {ctx.get('user')!r} uses an exec/auth-provider plugin, which podlog does "
                          "not run; give it a token or a client certificate")
    if not cluster.get("server"):
        raise ConfigError(f"{path}: cluster {ctx.get('cluster')!r} has no server")
    files = _Materialiser(materialise_dir)
    return ApiConfig(
        server=str(cluster["server"]).rstrip("/"),
        token=TokenSource(token=str(user.get("token", "")), path=_rel(base, user.get("tokenFile", ""))),
        ca_file=files.pick(base, cluster, "certificate-authority"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
        client_cert=files.pick(base, user, "client-certificate"),
        client_key=files.pick(base, user, "client-key"),
        username=str(user.get("username", "")), password=str(user.get("password", "")),
        namespace=str(ctx.get("namespace") or "default"), source=f"kubeconfig {path} context {name!r}")


def resolve(url: str = "", token_file: str = "", ca_file: str = "", verify: bool = True,
            client_cert: str = "", client_key: str = "", kubeconfig_path: str = "") -> ApiConfig:
    """Explicit options win; else in-cluster; else a kubeconfig (Fluentd's kubernetes_metadata order)."""
    if url:
        sa = SERVICEACCOUNT_DIR
        default_token = str(sa / "token") if not token_file and (sa / "token").is_file() else ""
        default_ca = str(sa / "ca.crt") if not ca_file and (sa / "ca.crt").is_file() else ""
        return ApiConfig(server=url.rstrip("/"), token=TokenSource(path=token_file or default_token),
                         ca_file=ca_file or default_ca, verify=verify, client_cert=client_cert,
                         client_key=client_key, source="options")
    try:
        cfg = in_cluster()
    except ConfigError as in_cluster_error:
        if not kubeconfig_path and not os.environ.get("KUBECONFIG") and not (Path.home() / ".kube/config").exists():
            raise ConfigError(f"{in_cluster_error}, no kubeconfig and no kubernetes_url") from None
        cfg = kubeconfig(kubeconfig_path)
    if token_file:
        cfg.token = TokenSource(path=token_file)
    cfg.ca_file = ca_file or cfg.ca_file
    cfg.verify = verify and cfg.verify
    return cfg


def _named(doc: dict[str, Any], section: str, key: str, name: str, path: str) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return dict(entry.get(key) or {})
    raise ConfigError(f"{path}: no {key} named {name!r} in {section}")


def _rel(base: Path, value: Any) -> str:
    return str(base / value) if value else ""


class _Materialiser:
    """Inline ``*-data`` certificates become private temp files (the TLS library loads files)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def pick(self, base: Path, section: dict[str, Any], key: str) -> str:
        if section.get(f"{key}-data"):
            data = base64.b64decode(section[f"{key}-data"])
            fd, name = tempfile.mkstemp(prefix=f"podlog-{key}-", dir=self.directory or None)
            os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return name
        return _rel(base, section.get(key, ""))
