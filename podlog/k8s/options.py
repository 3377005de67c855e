"""How a plugin reaches the Kubernetes API: the options the metadata filter and the events input share.

Fluentd's kubernetes_metadata names them; each empty means in a pod its
ServiceAccount and ``KUBERNETES_SERVICE_HOST/PORT``, else the current
context of ``$KUBECONFIG`` or ``~/.kube/config``.
"""

from __future__ import annotations

from typing import Any

from podlog.config.options import Option, Options

__all__ = ["ApiOptions", "api_config"]


class ApiOptions(Options):
    kubernetes_url = Option("str", "", doc="The API server (a trailing /api is accepted, as Fluentd writes it). "
                            "Default: in a pod its ServiceAccount and KUBERNETES_SERVICE_HOST/PORT, else the "
                            "current context of $KUBECONFIG or ~/.kube/config.")
    bearer_token_file = Option("str", "", doc="Token file, re-read when it is rotated (default in a pod: the "
                               "ServiceAccount token).")
    ca_file = Option("str", "", doc="CA bundle of the API server (default in a pod: the ServiceAccount CA).")
    client_cert = Option("str", "", doc="Client certificate file (PEM).")
    client_key = Option("str", "", doc="Client key file (PEM).")
    verify_ssl = Option("bool", True, doc="Verify the API server's certificate.")
    kubeconfig = Option("str", "", doc="podlog extension: a kubeconfig to use outside the cluster.")


def api_config(options: Any) -> Any:
    """The resolved API configuration (server, credentials) of ``options``; ConfigError when there is none."""
    from podlog.k8s.config import resolve  # only plugins that reach the API pay for the client

    url = options.kubernetes_url.rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")]  # Fluentd's kubernetes_url names the core API root
    return resolve(url=url, token_file=options.bearer_token_file, ca_file=options.ca_file,
                   verify=options.verify_ssl, client_cert=options.client_cert, client_key=options.client_key,
                   kubeconfig_path=options.kubeconfig)
