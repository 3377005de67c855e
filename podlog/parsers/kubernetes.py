"""The ``kubernetes`` parser: klog lines of the Kubernetes components (kubelet, kube-proxy, ...).

fluentd-kubernetes-daemonset reads ``/var/log/kubelet.log`` and its siblings
with ``<parse> @type kubernetes``, a parser that ships with Fluentd's
kubernetes_metadata plugin. Its lines look like
``I0204 12:34:56.789012    1234 server.go:42] Started kubelet``: a severity
letter, month and day without a year, the time, the pid, the source file and
line, then the message. As in Fluentd, the expression and the time format are
fixed; the year is the current one (the line has none).
"""

from __future__ import annotations

from typing import Any, ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher, decode_lines
from podlog.parsers.regex import compile_expression

__all__ = ["KubernetesParser"]

# severity (I, W, E, F), "MMDD hh:mm:ss.uuuuuu", pid, "file.go:line", then the message (which may hold newlines).
KLOG = r"^(?<severity>\w)(?<time>\d{4} [^\s]*)\s+(?<pid>\d+)\s+(?<source>[^ \]]+)\] (?<message>.*)"
KLOG_TIME = "%m%d %H:%M:%S.%N"


class KubernetesParser(Parser):
    """severity, pid, source and message of a klog line; its time becomes @timestamp."""

    name: ClassVar[str] = "kubernetes"

    class Options(Parser.Options, CommonOptions):
        time_format = Option("str", KLOG_TIME, doc="strftime format of the klog time (Fluentd fixes it to this).")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.regex = compile_expression(KLOG, multiline=True)
        self.finish = Finisher(options)

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        match = self.regex.match
        out: list[Parsed] = []
        for line in decode_lines(messages):
            m = match(line)
            out.append(ParseFailure("not a klog line") if m is None else m.groupdict())
        return self.finish(out)
