"""Options of the Elasticsearch/OpenSearch output, with fluent-plugin-elasticsearch's names.

A Fluentd ``<match>`` block for ``@type elasticsearch`` should load unchanged:
names podlog spells differently are aliases, and parameters without meaning
here (``reconnect_on_error``, ``suppress_type_name``...) are accepted and
documented as such rather than refused. Unknown names are still errors.
"""

from __future__ import annotations

import os
from typing import Any

from podlog.config.options import Option, Options
from podlog.outputs._http import Auth, Tls

__all__ = ["EsOptions", "auth_of", "compression_of", "tls_of", "urls_of"]

_COMPRESSION = {"no_compression": 0, "best_speed": 1, "default_compression": 6, "best_compression": 9}


class EsOptions(Options):
    # --- where ---------------------------------------------------------------------------------
    host = Option("str", "", doc="Host name; default $FLUENT_ELASTICSEARCH_HOST, else localhost.")
    # A string so that `port "#{ENV['FLUENT_ELASTICSEARCH_PORT']}"` with the variable unset (empty) means default.
    port = Option("str", "", doc="Port; default $FLUENT_ELASTICSEARCH_PORT, else 9200.")
    hosts = Option("list", [], doc="Several hosts, e.g. https://a:9200,https://b:9200 (or a list); tried in "
                   "turn when one fails. Overrides host/port.")
    scheme = Option("str", "", doc="http or https; default $FLUENT_ELASTICSEARCH_SCHEME, else http.")
    path = Option("str", "", doc="Path prefix when the cluster sits behind a proxy, e.g. /es.")
    request_timeout = Option("duration", 30.0, doc="Time allowed for one request (connect + answer).", min=0.001)
    headers = Option("dict", {}, doc="Extra HTTP headers.", aliases=("custom_headers",))
    # --- credentials -----------------------------------------------------------------------------
    user = Option("str", "", doc="Basic-auth user; default $FLUENT_ELASTICSEARCH_USER.")
    password = Option("str", "", doc="Basic-auth password; default $FLUENT_ELASTICSEARCH_PASSWORD.")
    password_file = Option("str", "", doc="File holding the password (a mounted Secret), re-read when it changes.")
    api_key = Option("str", "", doc="API key: the base64 'encoded' value, or 'id:key'.")
    api_key_file = Option("str", "", doc="File holding the API key.")
    bearer_token = Option("str", "", doc="Bearer token.")
    bearer_token_file = Option("str", "", doc="File holding the bearer token (e.g. a projected service account "
                               "token), re-read when it changes.")
    # --- TLS ---------------------------------------------------------------------------------------
    ssl_verify = Option("bool", True, doc="Verify the server certificate. Turn off only for tests.")
    ca_file = Option("str", "", doc="CA bundle to verify the server with.", aliases=("ca_path",))
    client_cert = Option("str", "", doc="Client certificate (PEM) for mutual TLS.")
    client_key = Option("str", "", doc="Client key (PEM).")
    client_key_pass = Option("str", "", doc="Client key passphrase.")
    ssl_version = Option("str", "", doc="Fluentd's TLS version.", ignored="the TLS version is negotiated.")
    # --- where each document goes ------------------------------------------------------------------
    index_name = Option("str", "podlog", doc="Index, templated: ${tag}, ${tag_parts[N]}, ${field.path}, strftime "
                        "codes from the record time (UTC).")
    logstash_format = Option("bool", False, doc="Write to <logstash_prefix><separator><date of the record>.")
    logstash_prefix = Option("str", "logstash", doc="Index prefix with logstash_format; templated like index_name.")
    logstash_prefix_separator = Option("str", "-", doc="Between prefix and date.")
    logstash_dateformat = Option("str", "%Y.%m.%d", doc="strftime format of the date part.")
    utc_index = Option("bool", True, doc="Dates in index names in UTC (false: the agent's local time).")
    time_key = Option("str", "@timestamp", doc="Record field holding the time used for index dates.")
    target_index_key = Option("str", "", doc="Record field naming the index; falls back to the rules above.")
    data_stream_name = Option("str", "", doc="Write to this data stream (templated); uses create operations and "
                              "needs @timestamp in every document.")
    data_stream_template_name = Option("str", "", doc="Fluentd's data stream template.",
                                       ignored="use template_name/template_file.")
    data_stream_ilm_name = Option("str", "", doc="Fluentd's data stream ILM policy.", ignored="use ilm_policy_id.")
    include_tag_key = Option("bool", False, doc="Add the tag to each document under tag_key.")
    tag_key = Option("str", "tag", doc="Field for include_tag_key.")
    type_name = Option("str", "", doc="Fluentd's mapping type.",
                       ignored="Elasticsearch 7+ and OpenSearch have no mapping types.")
    suppress_type_name = Option("bool", True, doc="Fluentd's switch for _type.", ignored="_type is never sent.")
    include_timestamp = Option("bool", False, doc="Fluentd's switch to add @timestamp without logstash_format.",
                               ignored="every podlog record has @timestamp.")
    # --- delivery ------------------------------------------------------------------------------------
    write_operation = Option("str", "index", doc="index or create. Idempotent delivery and data streams use create.",
                             choices=("index", "create"))
    idempotent = Option("str", "auto", doc="Send a deterministic _id with create so retries and restarts cannot "
                        "duplicate: auto (for records from files), true, false.", choices=("auto", "true", "false"))
    id_key = Option("str", "", doc="Record field to use as _id (instead of the derived one).")
    bulk_message_request_threshold = Option(
        "size", 8 * 1024 * 1024, doc="Largest bulk request body before compression; a chunk is split to fit.",
        aliases=("bulk_max_bytes",), min=1)
    bulk_max_documents = Option("int", 5000, doc="Most documents per bulk request.", min=1)
    gzip = Option("bool", True, doc="Gzip request bodies (level 1 unless compression_level says otherwise).",
                  aliases=("compress",))
    compression_level = Option("str", "", doc="no_compression, best_speed, default_compression, best_compression "
                               "or 0-9 (Fluentd's names); overrides gzip.")
    reconnect_on_error = Option("bool", True, doc="Fluentd's reconnection switch.",
                                ignored="a failed host is always set aside and retried.")
    reload_connections = Option("bool", False, doc="Fluentd's host sniffing.", ignored="no sniffing; list every host.")
    reload_on_failure = Option("bool", False, doc="Fluentd's host sniffing after a failure.",
                               ignored="no sniffing; list every host.")
    sniffer_class_name = Option("str", "", doc="Fluentd's sniffer class.", ignored="no sniffing; list every host.")
    log_es_400_reason = Option("bool", False, doc="Fluentd's switch to log why a document got 400.",
                               ignored="podlog always logs the reason and dead-letters the document.")
    # --- at start ------------------------------------------------------------------------------------
    verify_es_version_at_startup = Option("bool", True, doc="Ask GET / for flavor and version before sending.")
    default_elasticsearch_version = Option("int", 8, doc="Version assumed when not verifying.", min=5, max=9)
    template_name = Option("str", "", doc="Index template to install before sending.")
    template_file = Option("str", "", doc="JSON file with the template body.")
    template_overwrite = Option("bool", False, doc="Replace an existing template of that name.")
    use_legacy_template = Option("bool", True, doc="Install through /_template (Fluentd's default) rather than "
                                 "/_index_template.")
    enable_ilm = Option("bool", False, doc="Install the lifecycle policy (implied by ilm_policy_id).")
    ilm_policy_id = Option("str", "", doc="Lifecycle policy name to install (ILM on Elasticsearch, ISM on "
                           "OpenSearch).")
    ilm_policy = Option("any", "", doc="Policy body (JSON string, mapping or file path); Elasticsearch gets "
                        "Fluentd's default (rollover at 30d/50gb) if empty.")
    ilm_policy_overwrite = Option("bool", False, doc="Replace an existing policy of that name.")
    application_name = Option("str", "default", doc="Fluentd's part of rollover index aliases.",
                              ignored="Fluentd uses it only for rollover index aliases, which podlog does not create.")


def urls_of(o: Any, env: dict[str, str] | None = None) -> list[str]:
    """Base URLs from hosts, or host/port/scheme with the fluentd-kubernetes-daemonset env as defaults."""
    env = dict(os.environ) if env is None else env
    scheme = o.scheme or env.get("FLUENT_ELASTICSEARCH_SCHEME") or "http"
    path = (o.path or env.get("FLUENT_ELASTICSEARCH_PATH") or "").rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    urls = []
    if o.hosts:
        for host in o.hosts:
            if "://" not in host:
                host = f"{scheme}://{host}" if ":" in host.split("]")[-1] else f"{scheme}://{host}:9200"
            urls.append(host.rstrip("/") + path)
        return urls
    host = o.host or env.get("FLUENT_ELASTICSEARCH_HOST") or "localhost"
    raw_port = str(o.port).strip() or env.get("FLUENT_ELASTICSEARCH_PORT", "").strip() or "9200"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise o.error("port", f"expected a port number, got {raw_port!r}")
    port = int(raw_port)
    if "://" in host:
        return [host.rstrip("/") + path]
    return [f"{scheme}://{host}:{port}{path}"]


def auth_of(o: Any, env: dict[str, str] | None = None) -> Auth:
    env = dict(os.environ) if env is None else env
    token_given = o.api_key or o.api_key_file or o.bearer_token or o.bearer_token_file
    use_env = not o.user and not token_given  # env fills gaps; it never overrides what the config chose
    return Auth(
        user=o.user or (env.get("FLUENT_ELASTICSEARCH_USER", "") if use_env else ""),
        password=o.password or (env.get("FLUENT_ELASTICSEARCH_PASSWORD", "") if use_env or o.user else ""),
        password_file=o.password_file,
        api_key=o.api_key,
        api_key_file=o.api_key_file,
        bearer_token=o.bearer_token,
        bearer_token_file=o.bearer_token_file,
    )


def tls_of(o: Any, env: dict[str, str] | None = None) -> Tls:
    env = dict(os.environ) if env is None else env
    verify = o.ssl_verify
    if env.get("FLUENT_ELASTICSEARCH_SSL_VERIFY", "").lower() in ("false", "0", "no"):
        verify = False
    return Tls(verify=verify, ca_file=o.ca_file, client_cert=o.client_cert, client_key=o.client_key,
               client_key_password=o.client_key_pass)


def compression_of(o: Any) -> int:
    """Gzip level: compression_level (Fluentd names or a digit) wins over gzip."""
    level = str(o.compression_level).strip().lower()
    if level:
        if level in _COMPRESSION:
            return _COMPRESSION[level]
        if level.isdigit() and 0 <= int(level) <= 9:
            return int(level)
        raise o.error("compression_level", f"expected one of {', '.join(_COMPRESSION)} or 0-9, got {level!r}")
    return 1 if o.gzip else 0
