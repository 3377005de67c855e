"""grep: Fluentd's <regexp>/<exclude>/<and>/<or> semantics, nested keys, both config syntaxes."""

from __future__ import annotations

import pytest

from podlog.config.errors import ConfigError
from tests.filters.helpers import batch_of, fluent_filter, run, yaml_filter

RECORDS = [
    {"message": "ERROR disk full", "kubernetes": {"namespace_name": "shop", "container_name": "api"}},
    {"message": "error: timeout", "kubernetes": {"namespace_name": "kube-system", "container_name": "dns"}},
    {"message": "INFO ready", "kubernetes": {"namespace_name": "shop", "container_name": "web"}},
    {"message": "ERROR odd", "kubernetes": "not an object", "code": 500},
    {"level": "warn"},
]


def messages(records: list[dict]) -> list[str | None]:
    return [r.get("message") for r in records]


def test_fluentd_regexp_and_exclude_with_record_accessor() -> None:
    flt = fluent_filter(
        "<filter app>\n  @type grep\n  <regexp>\n    key message\n    pattern /error/i\n  </regexp>\n"
        "  <exclude>\n    key $.kubernetes.namespace_name\n    pattern /^kube-/\n  </exclude>\n</filter>\n")
    assert messages(run(flt, RECORDS)) == ["ERROR disk full", "ERROR odd"]


@pytest.mark.parametrize("as_docs", [True, False])
def test_several_regexps_are_anded_several_excludes_ored(as_docs: bool) -> None:
    flt = yaml_filter(
        "  - type: grep\n"
        "    regexp: [{key: message, pattern: /ERROR/}, {key: kubernetes.namespace_name, pattern: shop}]\n")
    assert messages(run(flt, RECORDS, as_docs=as_docs)) == ["ERROR disk full"]
    flt = yaml_filter(
        "  - type: grep\n"
        "    exclude: [{key: message, pattern: INFO}, {key: kubernetes.container_name, pattern: dns}]\n")
    assert messages(run(flt, RECORDS, as_docs=as_docs)) == ["ERROR disk full", "ERROR odd", None]


def test_and_or_groups() -> None:
    either = fluent_filter(
        "<filter **>\n  @type grep\n  <or>\n    <regexp>\n      key kubernetes.container_name\n      pattern /^web$/\n"
        "    </regexp>\n    <regexp>\n      key code\n      pattern /^5/\n    </regexp>\n  </or>\n</filter>\n")
    assert messages(run(either, RECORDS)) == ["INFO ready", "ERROR odd"]
    both = fluent_filter(
        "<filter **>\n  @type grep\n  <and>\n    <exclude>\n      key message\n      pattern /ERROR/\n"
        "    </exclude>\n    <exclude>\n      key $.kubernetes.namespace_name\n      pattern /shop/\n    </exclude>\n"
        "  </and>\n</filter>\n")
    assert messages(run(both, RECORDS)) == ["error: timeout", "INFO ready", "ERROR odd", None]


def test_missing_field_reads_as_empty_and_docs_stay_serialised() -> None:
    flt = yaml_filter("  - type: grep\n    regexp: [{key: level, pattern: '^$'}]\n")
    batch = batch_of(RECORDS)
    out = flt.filter(batch).batch
    assert out is not None and out.has_docs()  # nothing was decoded into dicts
    assert len(out) == 4 and out.offsets == [0, 1, 2, 3]


def test_bad_config_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"fluent.conf:8: .*regexp.*invalid regular expression"):
        fluent_filter("<filter **>\n  @type grep\n  <regexp>\n    key message\n    pattern /(unclosed/\n"
                      "  </regexp>\n</filter>\n")
    with pytest.raises(ConfigError, match="expected key and pattern"):
        yaml_filter("  - type: grep\n    regexp: [{key: message}]\n")
