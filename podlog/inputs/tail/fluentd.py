"""in_tail's fluent.conf form as the tail input's options (the tail's ``fluentd`` hook).

Fluentd reads lines as they are and lets the parser decide; podlog reads the
container envelope itself (``container_format``). So a ``<parse> @type cri``
becomes ``container_format cri`` (with its nested ``<parse>`` as the parser),
any other source gets ``container_format none``, and Fluentd's multiline
parser (``format_firstline`` + ``format1..N``) becomes podlog's ``multiline``
(which joins the lines) plus a regex parser over the joined event.
"""

from __future__ import annotations

import re

from podlog.config.errors import ConfigError
from podlog.config.fluentd_compat import no_effect
from podlog.config.fluentd_plugin import FluentdSection, put
from podlog.config.yaml_loader import LineDict

__all__ = ["CRI_NO_EFFECT", "TAIL_NO_EFFECT", "translate"]

# in_tail parameters podlog takes without acting on them (unless the tail input comes to declare them).
TAIL_NO_EFFECT = {
    "multiline_flush_interval": "only a multiline parser uses it, and this source has none",
    "emit_unmatched_lines": "podlog always keeps lines its parser does not match (raw, with a parse error field)",
    "limit_recently_modified": "podlog follows every matching file, however old",
}
# Parameters of Fluentd's cri parser that podlog's own CRI reader makes unnecessary.
CRI_NO_EFFECT = {
    "time_format": "podlog reads the CRI time (RFC 3339) itself",
    "merge_cri_fields": "stream is always a field of the record (true, the default, is what podlog does)",
}
_FORMAT_N = re.compile(r"format(\d+)")  # format1..formatN of Fluentd's multiline parser


def translate(options: LineDict, section: FluentdSection) -> None:
    """The tail's options from in_tail's: multiline parser, container format, parameters without effect."""
    parser = options.get("parser")
    if isinstance(parser, LineDict) and parser.get("type") == "multiline":
        _multiline(options, parser)
    no_effect(options, TAIL_NO_EFFECT, "input", "tail", "source")
    if "container_format" in options:
        return
    parser = options.get("parser")
    if not (isinstance(parser, LineDict) and parser.get("type") == "cri"):
        put(options, "container_format", "none", section.line)
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
    put(options, "container_format", "cri", line)
    if inner is not None:
        put(options, "parser", inner, inner.line)


def _multiline(options: LineDict, parser: LineDict) -> None:
    """Fluentd's multiline parser: ``format_firstline`` begins an event (podlog's multiline ``start``) and
    format1..N, concatenated, parse the joined event as one regex in multiline mode, as Fluentd does."""
    where = parser.located("parse")
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
    put(events, "type", "regex", parser.key_lines.get("type", parser.line))
    put(events, "start", first, parser.key_lines["format_firstline"])
    interval = options.pop("multiline_flush_interval", None)
    if interval is not None:
        put(events, "flush_timeout", interval, options.key_lines.pop("multiline_flush_interval"))
    regex = LineDict(parser.file, parser.line)
    put(regex, "type", "regex", parser.key_lines.get("type", parser.line))
    parts = [str(parser[k]) for _, k in numbered]
    put(regex, "expression", "".join(p[1:-1] if len(p) > 1 and p[0] == p[-1] == "/" else p for p in parts),
        parser.key_lines[numbered[0][1]])
    put(regex, "multiline", True, parser.key_lines[numbered[0][1]])
    for key, value in parser.items():
        if key not in ("type", "format_firstline") and not _FORMAT_N.fullmatch(key):
            put(regex, key, value, parser.key_lines.get(key, parser.line))  # time_format, types, ...
    put(options, "parser", regex, line)
    put(options, "multiline", events, line)
