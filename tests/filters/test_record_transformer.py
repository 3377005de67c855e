"""record_transformer: templates compiled once, Fluentd placeholders, keep/remove/rename/renew, no Ruby."""

from __future__ import annotations

import socket

import pytest

from podlog.config.errors import ConfigError
from tests.filters.helpers import fluent_filter, run, yaml_filter

RECORD = {"@timestamp": "2024-05-01T12:00:00Z", "message": "hi", "code": 200,
          "kubernetes": {"namespace_name": "shop", "container_name": "api", "labels": {"app": "web"}}}


def test_fluentd_record_section_placeholders() -> None:
    flt = fluent_filter(
        "<filter kube.**>\n  @type record_transformer\n  <record>\n"
        "    ns ${record[\"kubernetes\"][\"namespace_name\"]}\n"
        "    where ${hostname}/${tag_parts[1]}/${tag_prefix[1]}/${tag_suffix[2]}\n"
        "    line ${tag}: ${message} (${code})\n"
        "    app ${record.dig(\"kubernetes\", \"labels\", \"app\")}\n"
        "    missing x${record[\"nope\"]}x\n"
        "    when ${time}\n"
        "  </record>\n</filter>\n")
    [out] = run(flt, [RECORD], tag="kube.var.log.pod")
    assert out["ns"] == "shop"
    assert out["where"] == f"{socket.gethostname()}/var/kube.var/log.pod"
    assert out["line"] == "kube.var.log.pod: hi (200)"
    assert out["app"] == "web"
    assert out["missing"] == "xx"
    assert out["when"] == "2024-05-01T12:00:00Z"
    assert out["message"] == "hi" and out["kubernetes"] == RECORD["kubernetes"]


def test_tag_parts_follow_each_batch_tag() -> None:
    flt = yaml_filter("  - type: record_transformer\n    record: {service: '${tag_parts[1]}'}\n")
    assert run(flt, [RECORD], tag="k.a")[0]["service"] == "a"
    assert run(flt, [RECORD], tag="k.b")[0]["service"] == "b"


def test_auto_typecast_keeps_types_and_nested_values_are_templates() -> None:
    # in YAML ${NAME} is an environment variable: $${tag} is the placeholder
    flt = yaml_filter(
        "  - type: record_transformer\n    auto_typecast: true\n"
        "    record:\n      status: '${record[\"code\"]}'\n      labels: '${record[\"kubernetes\"][\"labels\"]}'\n"
        "      meta: {ns: '${record.dig(\"kubernetes\", \"namespace_name\")}', fixed: 3, list: ['$${tag}', 1]}\n")
    [out] = run(flt, [RECORD])
    assert out["status"] == 200 and out["labels"] == {"app": "web"}
    assert out["meta"] == {"ns": "shop", "fixed": 3, "list": ["app", 1]}


@pytest.mark.parametrize("as_docs", [True, False])
def test_remove_rename_keep_renew(as_docs: bool) -> None:
    flt = yaml_filter(
        "  - type: record_transformer\n    remove_keys: [code, $.kubernetes.labels]\n"
        "    rename_keys: {message: msg, kubernetes.container_name: container}\n"
        "    record: {copy: '$${message}'}\n")
    [out] = run(flt, [RECORD], as_docs=as_docs)
    assert out == {"@timestamp": "2024-05-01T12:00:00Z", "msg": "hi", "copy": "hi", "container": "api",
                   "kubernetes": {"namespace_name": "shop"}}
    flt = fluent_filter("<filter **>\n  @type record_transformer\n  renew_record true\n"
                        "  keep_keys message,kubernetes.namespace_name\n  <record>\n    n ${code}\n  </record>\n"
                        "</filter>\n")
    [out] = run(flt, [RECORD])
    assert out == {"@timestamp": "2024-05-01T12:00:00Z", "message": "hi",
                   "kubernetes": {"namespace_name": "shop"}, "n": "200"}


def test_rename_keys_fluentd_string_form() -> None:
    flt = fluent_filter("<filter **>\n  @type record_transformer\n  rename_keys message:log,code:status\n</filter>\n")
    [out] = run(flt, [RECORD])
    assert out["log"] == "hi" and out["status"] == 200 and "message" not in out


def test_ruby_is_never_run() -> None:
    text = ("<filter **>\n  @type record_transformer\n  enable_ruby true\n  <record>\n"
            "    n ${record[\"a\"].to_i * 2}\n  </record>\n</filter>\n")
    with pytest.raises(ConfigError, match=r"fluent.conf:9: filter.record: n: .* not a placeholder podlog knows.*Ruby"):
        fluent_filter(text)
    ok = fluent_filter("<filter **>\n  @type record_transformer\n  enable_ruby true\n  <record>\n"
                       "    ns ${record.dig(\"kubernetes\", \"namespace_name\")}\n  </record>\n</filter>\n")
    assert run(ok, [RECORD])[0]["ns"] == "shop"
