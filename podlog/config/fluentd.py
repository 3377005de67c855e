"""fluent.conf mapped onto podlog's config model.

Users move from Fluentd with the config they have. Plugin options keep
Fluentd's names (podlog's tail, buffer and output options declare them), so
parameters pass through unchanged as LineDicts that remember each key's line:
the plugin's ``Options`` then rejects what it does not know, at the right
fluent.conf line. This module renames plugin types, turns nested sections
into nested dicts, and translates the few legacy (v0.12) forms still common
in Kubernetes examples. Syntax itself is ``fluentd_syntax``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from podlog.config.errors import ConfigError, Located, Unevaluated
from podlog.config.fluentd_compat import CRI_NO_EFFECT, TAIL_NO_EFFECT, legacy_buffer, no_effect, refuse_unevaluated
from podlog.config.fluentd_syntax import Element, Param, parse_fluentd
from podlog.config.model import AgentSettings, Config, PluginSpec, Section
from podlog.config.yaml_loader import LineDict

__all__ = ["FILTER_TYPES", "INPUT_TYPES", "OUTPUT_TYPES", "PARSER_TYPES", "load_fluentd_text", "supported_type"]

# Fluentd plugin type -> podlog plugin name. Anything else is refused here, with the list.
INPUT_TYPES = {"tail": "tail", "forward": "forward", "http": "http", "syslog": "syslog"}
FILTER_TYPES = {n: n for n in ("grep", "record_transformer", "parser", "kubernetes_metadata", "throttle", "sample",
                               "rewrite_tag_filter")} | {"sampling": "sample"}
FILTER_TYPES["prometheus"] = "metrics"  # fluent-plugin-prometheus's filter: <metric> sections become rules
OUTPUT_TYPES = {
    "stdout": "stdout", "file": "file", "elasticsearch": "elasticsearch", "opensearch": "elasticsearch",
    "elasticsearch_data_stream": "elasticsearch", "forward": "forward", "http": "http", "null": "null",
    "copy": "copy", "clickhouse": "clickhouse",
    "rewrite_tag_filter": "rewrite_tag_filter",  # a filter that re-emits; the engine runs it in an output's place
}
# Parser names that differ; the others (json, none, cri, multiline, ...) are podlog's names too.
PARSER_TYPES = {"regexp": "regex"}

_TYPES = {"input": INPUT_TYPES, "filter": FILTER_TYPES, "output": OUTPUT_TYPES}
_DIRECTIVE = {"input": "source", "filter": "filter", "output": "match"}
_COSMETIC = ("@log_level", "log_level")  # accepted everywhere (log_level: v0.12 spelling), no effect on records
# Legacy source-level parse params that belong in the parser (Fluentd's v0.12 compat does the same).
_LEGACY_PARSE = ("time_format", "time_key", "keep_time_key", "types", "time_type", "timezone", "localtime",
                 "utc", "null_value_pattern", "null_empty_string", "estimate_current_event")
_FORMAT_N = re.compile(r"format(\d+)")  # format1..formatN of Fluentd's multiline parser
# repeatable sections -> lists
_MULTI = ("regexp", "exclude", "and", "or", "pattern", "server", "rule", "grok", "metric")
_SYSTEM_HARMLESS = (
    "suppress_repeated_stacktrace", "emit_error_log_interval", "suppress_config_dump", "ignore_repeated_log_interval",
    "ignore_same_log_interval", "log_event_verbose", "process_name", "strict_config_value", "dir_permission",
    "file_permission", "enable_msgpack_time_support", "enable_input_metrics", "enable_size_metrics",
    "disable_shared_socket", "enable_jit",
)
_LOG_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "warn": "warning", "error": "error",
               "fatal": "error"}


def load_fluentd_text(text: str, file: str, env: Mapping[str, str] | None = None) -> Config:
    """Parse fluent.conf ``text`` and map it to a Config; ``env`` replaces os.environ (tests)."""
    root = parse_fluentd(text, file, env)
    config = Config(file=file)
    routes: list[tuple[str, Located]] = []  # (label, where) of each source, checked once labels are known
    for param in root.params.values():
        raise _at(param, f"{param.key}: parameter outside any section")
    for el in root.elements:
        if el.name == "source":
            config.sources.append(_source(el, routes))
        elif el.name in ("filter", "match"):
            _add(config.main, el, "")
        elif el.name == "label":
            _label(config, el)
        elif el.name == "system":
            config.agent = _system(el)
        elif el.name == "worker":
            raise _err(el, "", "<worker> is not supported: podlog runs one process; move its sections out")
        else:
            raise _err(el, "", f"unknown section {el.tag}; valid: <source>, <filter>, <match>, <label>, <system>")
    for label, where in routes:
        if label not in config.labels:
            raise ConfigError(where, f"@label {label} is not defined (no <label {label}> section)")
    if not config.sources:
        raise ConfigError(Located(file, 1, ""), "at least one <source> is required")
    return config


def _at(param: Param, message: str) -> ConfigError:
    return ConfigError(Located(param.file, param.line, ""), message)


def _err(el: Element, path: str, message: str) -> ConfigError:
    return ConfigError(el.located(path), message)


def _text(param: Param) -> str:
    if isinstance(param.value, Unevaluated):
        raise param.value.error
    if not isinstance(param.value, str) or not param.value:
        raise _at(param, f"{param.key}: expected a name")
    return param.value


def _label(config: Config, el: Element) -> None:
    if not el.arg.startswith("@"):
        raise _err(el, "label", f"{el.tag}: a label name starts with @, like <label @OUTPUT>")
    if el.arg in config.labels:
        raise _err(el, "label", f"{el.tag} is defined twice")
    section = Section()
    for child in el.elements:
        if child.name not in ("filter", "match"):
            raise _err(child, "", f"{child.tag} is not allowed in {el.tag}; only <filter> and <match>")
        _add(section, child, f"label {el.arg}.")
    for param in el.params.values():
        raise _at(param, f"{param.key}: parameter directly in {el.tag}; put it in a <filter> or <match>")
    config.labels[el.arg] = section


def _add(section: Section, el: Element, prefix: str) -> None:
    match = el.arg or "**"  # Fluentd's default pattern
    if el.name == "filter":
        section.filters.append(_plugin(el, "filter", f"{prefix}filter", match))
    else:
        section.outputs.append(_plugin(el, "output", f"{prefix}match", match))


def _source(el: Element, routes: list[tuple[str, Located]]) -> PluginSpec:
    spec = _plugin(el, "input", "source", None)
    label = el.params.get("@label")
    if label is not None:
        spec.label = _text(label)
        routes.append((spec.label, Located(label.file, label.line, "source.@label")))
    return spec


# -- one plugin


def _plugin(el: Element, kind: str, path: str, match: str | None) -> PluginSpec:
    type_param = el.params.get("@type") or el.params.get("type")  # `type` is the v0.12 spelling
    if type_param is None:
        raise _err(el, path, f"{el.tag}: @type is required")
    ptype = _plugin_type(el, kind, _text(type_param), path)
    skip = {type_param.key, "@id", *_COSMETIC}
    if kind == "input":
        skip.add("@label")
    options = _params(el, skip)
    spec = PluginSpec(kind=kind, type=ptype, options=options, where=options.located(path), match=match)
    if "@id" in el.params:
        spec.id = _text(el.params["@id"])
    for child in el.elements:
        _child(spec, options, el, child, path)
    if kind == "input" or ptype == "parser":
        _legacy_format(options)
    elif kind == "output" and isinstance(options.get("format"), str):
        _legacy_output_format(options)
    parser = options.get("parser")
    if isinstance(parser, LineDict) and parser.get("type") == "multiline":
        _multiline(options, parser, ptype)
    if ptype == "tail":
        _tail(options, el)
    if kind == "input" and ptype in _PUSH:
        _push(options, ptype)
    if ptype == "stdout":
        _stdout(options, el)
    if ptype == "file" and "format" in options:
        _file_format(options)
    if _text(type_param) == "prometheus" and ptype == "metrics":
        _prometheus(options)
    if _text(type_param) == "elasticsearch_data_stream" and "data_stream_name" not in options:
        raise _err(el, path, f"{el.tag}: @type elasticsearch_data_stream needs data_stream_name")
    if kind == "output":
        legacy_buffer(spec, options, ptype)
    if ptype == "copy" and not spec.stores:
        raise _err(el, path, f"{el.tag}: @type copy needs at least one <store>")
    refuse_unevaluated(spec)
    return spec


def _plugin_type(el: Element, kind: str, name: str, path: str) -> str:
    table = {k: v for k, v in _TYPES[kind].items() if _exists(kind, v)}  # names of plugins not built yet: refused
    if name in table:
        return table[name]
    supported = ", ".join(sorted(set(table.values())))
    raise _err(el, path, f"{el.tag}: @type {name} is not supported by podlog; supported {kind} types: {supported}"
                         f" (Fluentd names accepted: {', '.join(sorted(table))}); see docs/fluentd.md")


def supported_type(kind: str, fluentd_type: str) -> bool:
    """Whether a Fluentd ``@type`` of this kind (input, filter, output) loads: it maps to a plugin podlog has."""
    name = _TYPES[kind].get(fluentd_type)
    return name is not None and _exists(kind, name)


def _exists(kind: str, name: str) -> bool:
    """Whether podlog has the plugin a Fluentd type maps to (copy and rewrite_tag_filter are engine-level)."""
    from podlog.plugin import lookup

    if kind == "output" and name == "copy":
        return True
    try:
        lookup("filter" if name == "rewrite_tag_filter" else kind, name)
    except KeyError:
        return False
    return True


def _params(el: Element, skip: set[str] | tuple[str, ...] = ()) -> LineDict:
    out = LineDict(el.file, el.line)
    for key, param in el.params.items():
        if key not in skip:
            _put(out, key, param.value, param.line)
    return out


def _put(out: LineDict, key: str, value: Any, line: int) -> None:
    if key in out:
        raise ConfigError(Located(out.file, line, key), f"set twice (first at line {out.key_lines[key]})")
    out[key] = value
    out.key_lines[key] = line


def _child(spec: PluginSpec, options: LineDict, el: Element, child: Element, path: str) -> None:
    """One nested section of a plugin: buffer and store are the engine's, the rest are options."""
    if child.name == "buffer":
        if spec.kind != "output":
            raise _err(child, path, f"<buffer> belongs in a <match>, not in {el.tag}")
        if spec.buffer is not None:
            raise _err(child, path, f"{el.tag} has two <buffer> sections")
        spec.buffer = _buffer(child)
        spec.buffer_where = spec.buffer.located(f"{path}.buffer")
    elif child.name == "transport" and spec.kind == "input":  # <transport tls>: the argument matters
        transport = _section(child, allow_arg=True)
        _put(transport, "protocol", child.arg or "tcp", child.line)
        _put(options, "transport", transport, child.line)
    elif child.name == "store":
        if spec.type != "copy":
            raise _err(child, path, f"<store> is only valid in @type copy, not in {el.tag}")
        spec.stores.append(_store(child, spec, f"{path}.store[{len(spec.stores)}]"))
    else:
        _section_into(options, child)


def _store(el: Element, parent: PluginSpec, path: str) -> PluginSpec:
    # ignore_error: a failing store never stops the others in podlog (each retries on its own).
    if el.arg not in ("", "ignore_error"):
        raise _err(el, path, f"{el.tag}: only <store> and <store ignore_error> are supported")
    store = _plugin(el, "output", path, parent.match)
    if store.type == "copy":
        raise _err(el, path, "a <store> cannot be another copy")
    return store


def _buffer(el: Element) -> LineDict:
    buffer = _section(el, allow_arg=True)
    if el.arg:  # <buffer tag,time>: chunk keys
        _put(buffer, "chunk_keys", [k.strip() for k in el.arg.split(",") if k.strip()], el.line)
    return buffer


# -- nested sections as dicts


def _section(el: Element, allow_arg: bool = False) -> LineDict:
    """A nested section as a LineDict: ``@type`` becomes ``type``, subsections nest."""
    if el.arg and not allow_arg:
        raise _err(el, el.name, f"{el.tag}: a section argument is not supported here")
    out = LineDict(el.file, el.line)
    for key, param in el.params.items():
        if key in _COSMETIC:
            continue
        name = "type" if key == "@type" else key
        value = param.value
        if name == "type" and el.name in ("parse", "pattern") and isinstance(value, str):
            if len(value) > 1 and value[0] == value[-1] == "/":  # Fluentd: @type /regex/ is a regexp parser
                _put(out, "expression", value, param.line)
                value = "regex"
            value = PARSER_TYPES.get(value, value)
        _put(out, name, value, param.line)
    for child in el.elements:
        _section_into(out, child)
    return out


def _section_into(out: LineDict, child: Element) -> None:
    """``<parse>`` becomes ``parser``; repeatable sections (``<regexp>``...) become lists."""
    key = "parser" if child.name == "parse" else child.name
    value = _section(child)
    if child.name in _MULTI:
        if key not in out:
            _put(out, key, [], child.line)
        existing = out[key]
        if not isinstance(existing, list):
            raise ConfigError(Located(child.file, child.line, key), f"both a {key} parameter and <{child.name}>")
        existing.append(value)
    else:
        _put(out, key, value, child.line)


# -- legacy forms and tail defaults


def _legacy_format(options: LineDict) -> None:
    """``format X`` (+ ``time_format``...) in a source or parser filter -> ``parser`` dict."""
    fmt = options.get("format")
    if fmt is None:
        return
    line = options.key_lines["format"]
    where = Located(options.file, line, "format")
    if "parser" in options:
        raise ConfigError(where, "use either format or <parse>, not both")
    multiline = [k for k in options if k == "format_firstline" or _FORMAT_N.fullmatch(k)]
    if multiline and fmt != "multiline":
        raise ConfigError(where, f"{multiline[0]} goes with format multiline")
    if not isinstance(fmt, str) or not fmt:
        raise ConfigError(where, "expected a parser name or /regex/")
    del options["format"], options.key_lines["format"]
    parser = LineDict(options.file, line)
    if fmt.startswith("/"):
        _put(parser, "type", "regex", line)
        _put(parser, "expression", fmt, line)  # kept as written, slashes included, like <parse> expression
    else:
        _put(parser, "type", PARSER_TYPES.get(fmt, fmt), line)
    for key in (*_LEGACY_PARSE, *multiline):
        if key in options:
            _put(parser, key, options.pop(key), options.key_lines.pop(key))
    _put(options, "parser", parser, line)


def _multiline(options: LineDict, parser: LineDict, ptype: str) -> None:
    """Fluentd's multiline parser: ``format_firstline`` begins an event (podlog's multiline ``start``) and
    format1..N, concatenated, parse the joined event as one regex in multiline mode, as Fluentd does."""
    where = parser.located("parse")
    if ptype != "tail":
        raise ConfigError(where.child("type"), "multiline joins lines, so it works only in a tail <source>; "
                                               "here parse the joined message with @type regexp")
    first = parser.get("format_firstline")
    if not isinstance(first, str) or not first:
        raise ConfigError(where.child("format_firstline"), "required with multiline: the regex of an event's "
                                                           "first line, e.g. format_firstline /^\\d{4}-/")
    numbered = sorted((int(m.group(1)), k) for k in parser if (m := _FORMAT_N.fullmatch(k)))
    if not numbered:
        raise ConfigError(where.child("format1"), "required with multiline: format1 (and format2.. if needed), "
                                                  "the regex parts that parse the joined event")
    line = options.key_lines.pop("parser")
    del options["parser"]
    events = LineDict(parser.file, parser.line)
    _put(events, "type", "regex", parser.key_lines.get("type", parser.line))
    _put(events, "start", first, parser.key_lines["format_firstline"])
    interval = options.pop("multiline_flush_interval", None)
    if interval is not None:
        _put(events, "flush_timeout", interval, options.key_lines.pop("multiline_flush_interval"))
    regex = LineDict(parser.file, parser.line)
    _put(regex, "type", "regex", parser.key_lines.get("type", parser.line))
    parts = [str(parser[k]) for _, k in numbered]
    _put(regex, "expression", "".join(p[1:-1] if len(p) > 1 and p[0] == p[-1] == "/" else p for p in parts),
         parser.key_lines[numbered[0][1]])
    _put(regex, "multiline", True, parser.key_lines[numbered[0][1]])
    for key, value in parser.items():
        if key not in ("type", "format_firstline") and not _FORMAT_N.fullmatch(key):
            _put(regex, key, value, parser.key_lines.get(key, parser.line))  # time_format, types, ...
    _put(options, "parser", regex, line)
    _put(options, "multiline", events, line)


def _legacy_output_format(options: LineDict) -> None:
    """``format json`` in a match -> the same ``{"type": "json"}`` a ``<format>`` section gives."""
    line = options.key_lines["format"]
    formatter = LineDict(options.file, line)
    _put(formatter, "type", options.pop("format"), line)
    options["format"] = formatter


def _stdout(options: LineDict, el: Element) -> None:
    """Fluentd's stdout prints ``<time> <tag>: <record>`` unless told ``format json``: a fluent.conf gets
    that look (podlog's ``fluentd`` format), not podlog's bare JSON lines, so the tag stays visible."""
    fmt = options.get("format")
    if fmt is None:
        _put(options, "format", "fluentd", el.line)
        return
    kind = fmt.get("type", "stdout") if isinstance(fmt, Mapping) else fmt
    if kind not in ("json", "stdout") or (isinstance(fmt, Mapping) and set(fmt) - {"type"}):
        raise ConfigError(Located(options.file, options.key_lines["format"], "format"),
                          "stdout prints with @type stdout (time tag: record) or json (record only)")
    options["format"] = "json" if kind == "json" else "fluentd"


def _file_format(options: LineDict) -> None:
    """podlog's file output writes JSON lines: ``format json`` (or ``<format> @type json``) says just that."""
    fmt = options.get("format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else fmt
    if kind != "json" or (isinstance(fmt, Mapping) and set(fmt) - {"type"}):
        raise ConfigError(Located(options.file, options.key_lines["format"], "format"),
                          f"the file output writes JSON lines only (format json); {kind!r} is not supported")
    del options["format"]


def _tail(options: LineDict, el: Element) -> None:
    """Fluentd reads lines as they are and lets the parser decide: container_format none, except for cri."""
    no_effect(options, TAIL_NO_EFFECT, "input", "tail", "source")
    if "container_format" in options:
        return
    parser = options.get("parser")
    if not (isinstance(parser, LineDict) and parser.get("type") == "cri"):
        _put(options, "container_format", "none", el.line)
        return
    line = options.key_lines.pop("parser")
    del options["parser"]
    inner = parser.pop("parser", None)  # <parse> @type cri <parse> @type json </parse> </parse>
    if str(parser.get("merge_cri_fields", "")).strip().lower() in ("true", "yes", ""):
        parser.pop("merge_cri_fields", None)  # what podlog does anyway
    no_effect(parser, CRI_NO_EFFECT, "parser", "", "parse")
    for key in parser:
        if key != "type":
            raise ConfigError(parser.located("parse").child(key),
                              "not supported with @type cri: podlog reads the CRI envelope itself "
                              "(container_format cri); parse the message with a nested <parse>")
    _put(options, "container_format", "cri", line)
    if inner is not None:
        _put(options, "parser", inner, inner.line)


# -- push inputs (forward, http, syslog)

_PUSH = ("forward", "http", "syslog")


def _push(options: LineDict, ptype: str) -> None:
    """``<transport>``, ``<security>`` and a syslog ``<parse>`` become the input's flat options.

    Keys move with their lines, so the input's Options reject what podlog does not support where it is
    written (``<user>`` auth, ``<client>`` lists, TLS knobs beyond certificates and client checks).
    """
    transport = options.get("transport")
    if isinstance(transport, LineDict):
        _pop(options, "transport")
        protocol = _pop(transport, "protocol")
        where = transport.located("transport")
        if protocol not in ("tcp", "udp", "tls"):
            raise ConfigError(where, f"<transport {protocol}>: expected tcp, udp or tls")
        if ptype == "syslog":
            _put(options, "transport", protocol, transport.line)
        elif protocol == "udp":
            raise ConfigError(where, f"the {ptype} input listens on TCP: <transport tcp> or <transport tls>")
        if protocol == "tls":
            _put(options, "tls", True, transport.line)
        _merge(options, transport)
    security = options.get("security")
    if isinstance(security, LineDict):
        _pop(options, "security")
        _merge(options, security)
    parser = options.get("parser")
    if ptype == "syslog" and isinstance(parser, LineDict):
        _pop(options, "parser")
        if parser.get("type", "syslog") != "syslog":
            raise ConfigError(parser.located("parse").child("type"), "the syslog input parses syslog itself; "
                              "only <parse> @type syslog with message_format is supported")
        parser.pop("type", None)
        if str(parser.pop("with_priority", "true")).lower() != "true":
            raise ConfigError(parser.located("parse"), "with_priority false is not supported: messages carry <PRI>")
        _merge(options, parser)


def _pop(out: LineDict, key: str) -> Any:
    out.key_lines.pop(key, None)
    return out.pop(key)


def _merge(options: LineDict, section: LineDict) -> None:
    for key, value in section.items():
        _put(options, key, value, section.key_lines.get(key, section.line))


# -- fluent-plugin-prometheus


def _prometheus(options: LineDict) -> None:
    """``<metric>`` sections (name, type, desc, key, buckets, ``<labels>``) become the metrics filter's rules.

    Label values follow the plugin: ``$.a.b``/``$[..]`` read the record, ``${tag}`` and ``${hostname}`` are the
    tag and host, anything else is a constant. The plugin-wide ``<labels>`` apply to every metric.
    """
    metrics = options.pop("metric", None)
    line = options.key_lines.pop("metric", options.line)
    common = options.pop("labels", None)
    options.key_lines.pop("labels", None)
    if not isinstance(metrics, list):
        raise ConfigError(options.located("filter"), "@type prometheus needs at least one <metric> section")
    if "max_series_per_metric" in options:
        line_max = options.key_lines.pop("max_series_per_metric")
        _put(options, "max_series", options.pop("max_series_per_metric"), line_max)
    rules = []
    for metric in metrics:
        where = metric.located("metric")
        rule = LineDict(metric.file, metric.line)
        renames = {"name": "name", "type": "type", "desc": "help", "key": "value", "buckets": "buckets",
                   "max_series_per_metric": "max_series"}
        for key, value in metric.items():
            if key == "labels":
                continue
            if key not in renames:
                raise ConfigError(where.child(key), f"not supported in <metric>; supported: {', '.join(renames)}, "
                                                    "<labels>")
            _put(rule, renames[key], value, metric.key_lines.get(key, metric.line))
        if rule.get("type") == "summary":
            raise ConfigError(where.child("type"), "summary is not supported; a histogram with buckets gives "
                                                   "quantiles in Prometheus (histogram_quantile)")
        labels, consts = LineDict(metric.file, metric.line), LineDict(metric.file, metric.line)
        for section in (common, metric.get("labels")):
            for label, value in (section or {}).items():
                text = str(value)
                if text.startswith(("$.", "$[")) or text in ("${tag}", "${hostname}"):
                    labels[label] = text
                elif text.startswith("${"):
                    raise ConfigError(section.located("labels").child(label),
                                      f"{text} is not supported; use ${{tag}}, ${{hostname}}, $.field or a constant")
                else:
                    consts[label] = text
        if labels:
            _put(rule, "labels", labels, metric.line)
        if consts:
            _put(rule, "const_labels", consts, metric.line)
        rules.append(rule)
    _put(options, "rules", rules, line)


# -- <system>


def _system(el: Element) -> AgentSettings:
    agent = AgentSettings()
    for key, param in el.params.items():
        value = str(param.value).strip()
        if key == "log_level":
            if value not in _LOG_LEVELS:
                raise _at(param, f"log_level: expected one of {', '.join(_LOG_LEVELS)}, got {value!r}")
            agent.log_level = _LOG_LEVELS[value]
        elif key == "root_dir":
            agent.data_dir = value
        elif key == "workers":
            if value != "1":
                raise _at(param, "workers: podlog runs one process (outputs flush in parallel with the "
                                 "buffer's flush_thread_count); use workers 1")
        elif key not in _SYSTEM_HARMLESS:
            raise _at(param, f"{key}: not supported in <system>; supported: log_level, root_dir, workers 1, "
                             f"and (no effect) {', '.join(_SYSTEM_HARMLESS)}")
    for child in el.elements:
        _system_log(child)
    return agent


def _system_log(el: Element) -> None:
    """``<log>`` only styles the agent's own log lines: accepted, no effect."""
    if el.name != "log":
        raise _err(el, "system", f"{el.tag} is not supported in <system>")
    for key, param in el.params.items():
        if key not in ("format", "time_format"):
            raise _at(param, f"{key}: not supported in <system><log>; supported: format, time_format")

