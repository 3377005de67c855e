"""Build filters from real config text (YAML or fluent.conf) and run batches through them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from podlog.batch import Batch
from podlog.buffer.options import BufferOptions
from podlog.config.errors import Located
from podlog.config.loader import load_config_text
from podlog.config.model import PluginSpec
from podlog.filters._base import Filter
from podlog.outputs._base import Output
from podlog.pipeline import build_plugin

YAML_HEAD = "sources:\n  - {type: tail, path: [/x.log], tag: app}\noutputs:\n  - {type: stdout}\nfilters:\n"
FLUENT_HEAD = "<source>\n  @type tail\n  path /x.log\n  tag app\n</source>\n"


def yaml_filter(entry: str, **context: Any) -> Filter:
    """The filter of a YAML ``filters:`` entry (indented under ``filters:``)."""
    config = load_config_text(YAML_HEAD + entry, "agent.yaml")
    return _build(config.main.filters[0], context)


def fluent_filter(text: str, **context: Any) -> Filter:
    """The filter of one ``<filter>`` section of a fluent.conf."""
    config = load_config_text(FLUENT_HEAD + text, "fluent.conf")
    return _build(config.main.filters[0], context)


def _build(spec: Any, context: dict[str, Any]) -> Filter:
    plugin = build_plugin(spec, **context)
    assert isinstance(plugin, Filter)
    return plugin


def batch_of(records: list[dict[str, Any]], tag: str = "app", as_docs: bool = True) -> Batch:
    if as_docs:
        return Batch(tag, docs=[orjson.dumps(r) for r in records], offsets=list(range(len(records))))
    return Batch(tag, records=[dict(r) for r in records], offsets=list(range(len(records))))


def run(flt: Filter, records: list[dict[str, Any]], tag: str = "app", as_docs: bool = True) -> list[dict[str, Any]]:
    """What is left of ``records`` after the filter (decoded)."""
    out = flt.filter(batch_of(records, tag, as_docs)).batch
    return [] if out is None else [orjson.loads(d) for d in out.docs]


Emit = Callable[[Batch], None]


class Recorder:
    """Outputs for a pipeline built without runners (``pipeline.build``): each output a list of the batches
    it got, and every drop as (count, by). ``hold``: keep each batch's ack retained until the test settles it,
    as a real output holds it until delivery."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.got: dict[str, list[Batch]] = {}
        self.drops: list[tuple[int, str | None]] = []

    def target(self, spec: PluginSpec, name: str, output: Output, buffer: BufferOptions, where: Located) -> Any:
        got = self.got.setdefault(name, [])
        hold = self.hold

        class Target:
            def submit(self, batch: Batch) -> None:
                if hold:
                    batch.ack.retain()
                got.append(batch)

        return Target()

    def dropped(self, batch: Batch, n: int, by: str | None) -> None:
        self.drops.append((n, by))
