"""fluent.conf mapped onto podlog's config model.

Users move from Fluentd with the config they have. Plugin options keep
Fluentd's names (podlog's tail, buffer and output options declare them), so
parameters pass through unchanged as LineDicts that remember each key's line:
the plugin's ``Options`` then rejects what it does not know, at the right
fluent.conf line. This module renames plugin types, turns nested sections
into nested dicts, and translates the few legacy (v0.12) forms still common
in Kubernetes examples, the same for every plugin. What is particular to one
plugin (in_tail's container format, the push inputs' ``<transport>``,
``@type prometheus``'s ``<metric>`` sections...) is that plugin's own
``fluentd`` hook, in its module, which this module calls with the section
(plugins found through ``config.registry``). Syntax itself is
``fluentd_syntax``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from podlog.config.errors import ConfigError, Located, Unevaluated
from podlog.config.fluentd_compat import legacy_buffer, refuse_unevaluated
from podlog.config.fluentd_plugin import FluentdSection, put
from podlog.config.fluentd_syntax import Element, Param, parse_fluentd
from podlog.config.model import AgentSettings, Config, PluginSpec, Section
from podlog.config.registry import PluginClass, lookup
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
    if isinstance(parser, LineDict) and parser.get("type") == "multiline" and ptype != "tail":
        raise ConfigError(parser.located("parse").child("type"), "multiline joins lines, so it works only in a "
                                                                 "tail <source>; here parse the joined message "
                                                                 "with @type regexp")
    cls = _class(kind, ptype)
    if cls is not None:  # the plugin's own Fluentd form (renames, sections to options, a variant @type)
        cls.fluentd(options, FluentdSection(_text(type_param), el.tag, el.file, el.line, path))
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
    return (kind == "output" and name == "copy") or _class(kind, name) is not None


def _class(kind: str, name: str) -> PluginClass | None:
    """The plugin a (podlog) type names; None for copy (the engine's) and unknown names."""
    if kind == "output" and name == "copy":
        return None
    try:
        return lookup("filter" if name == "rewrite_tag_filter" else kind, name)
    except KeyError:
        return None


def _params(el: Element, skip: set[str] | tuple[str, ...] = ()) -> LineDict:
    out = LineDict(el.file, el.line)
    for key, param in el.params.items():
        if key not in skip:
            put(out, key, param.value, param.line)
    return out


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
        put(transport, "protocol", child.arg or "tcp", child.line)
        put(options, "transport", transport, child.line)
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
        put(buffer, "chunk_keys", [k.strip() for k in el.arg.split(",") if k.strip()], el.line)
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
                put(out, "expression", value, param.line)
                value = "regex"
            value = PARSER_TYPES.get(value, value)
        put(out, name, value, param.line)
    for child in el.elements:
        _section_into(out, child)
    return out


def _section_into(out: LineDict, child: Element) -> None:
    """``<parse>`` becomes ``parser``; repeatable sections (``<regexp>``...) become lists."""
    key = "parser" if child.name == "parse" else child.name
    value = _section(child)
    if child.name in _MULTI:
        if key not in out:
            put(out, key, [], child.line)
        existing = out[key]
        if not isinstance(existing, list):
            raise ConfigError(Located(child.file, child.line, key), f"both a {key} parameter and <{child.name}>")
        existing.append(value)
    else:
        put(out, key, value, child.line)


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
        put(parser, "type", "regex", line)
        put(parser, "expression", fmt, line)  # kept as written, slashes included, like <parse> expression
    else:
        put(parser, "type", PARSER_TYPES.get(fmt, fmt), line)
    for key in (*_LEGACY_PARSE, *multiline):
        if key in options:
            put(parser, key, options.pop(key), options.key_lines.pop(key))
    put(options, "parser", parser, line)


def _legacy_output_format(options: LineDict) -> None:
    """``format json`` in a match -> the same ``{"type": "json"}`` a ``<format>`` section gives."""
    line = options.key_lines["format"]
    formatter = LineDict(options.file, line)
    put(formatter, "type", options.pop("format"), line)
    options["format"] = formatter


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

