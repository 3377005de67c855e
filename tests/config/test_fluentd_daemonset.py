"""The stock fluentd-kubernetes-daemonset v1.19 configs, read as they are (issue 12, item 9).

The files are the real ``conf/`` folders of the 19 images, kept outside the
project (``../shared/compat/fluentd-kubernetes-daemonset``, or $PODLOG_SHARED);
the tests skip, saying so, when they are absent. Every image either loads and
builds, or is refused only for an output or filter type podlog does not have,
at that section's line. The elasticsearch8 image is taken further: ``podlog
check`` with the environment its DaemonSet manifests set, the warnings for
the settings podlog accepts without effect, and a dry run of docker and
containerd lines compared field by field with what Fluentd produces.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from podlog.config.errors import ConfigError
from podlog.config.fluentd import supported_type
from podlog.config.fluentd_syntax import Element, parse_fluentd
from podlog.config.loader import load_config
from podlog.config.notices import collect
from podlog.dryrun import check_lines
from podlog.engine import Engine
from tests.conftest import NO_IMAGES, daemonset_images

IMAGES = daemonset_images()
pytestmark = pytest.mark.skipif(IMAGES is None, reason=NO_IMAGES)

# What the DaemonSet manifests of the repository set (fluentd-daemonset-elasticsearch*.yaml and the README):
# systemd and prometheus disabled (podlog reads no journal and serves its own /metrics).
DOCUMENTED_ENV = {
    "FLUENT_ELASTICSEARCH_HOST": "elasticsearch-logging",
    "FLUENT_ELASTICSEARCH_PORT": "9200",
    "FLUENT_ELASTICSEARCH_SCHEME": "http",
    "FLUENT_ELASTICSEARCH_SSL_VERIFY": "true",
    "FLUENT_ELASTICSEARCH_SSL_VERSION": "TLSv1_2",
    "FLUENTD_SYSTEMD_CONF": "disable",
    "FLUENTD_PROMETHEUS_CONF": "disable",
    "FLUENT_CONTAINER_TAIL_EXCLUDE_PATH": '["/var/log/containers/fluent*"]',
    "K8S_NODE_NAME": "node-1",
}
# containerd nodes, as the README says: the cri parser and its time format.
CONTAINERD_ENV = {"FLUENT_CONTAINER_TAIL_PARSER_TYPE": "cri",
                  "FLUENT_CONTAINER_TAIL_PARSER_TIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%N%:z"}

LOADING = ["debian-elasticsearch7", "debian-elasticsearch8", "debian-elasticsearch9", "debian-opensearch"]
# Image -> (line in its fluent.conf of the first refused section, every type podlog lacks in that file).
# All are outputs to services podlog does not ship to (plus graylog's record_modifier filter); forward is
# Fluentd's own forward protocol, not built yet.
REFUSED = {
    "debian-azureblob": (10, {"azure-storage-append-blob"}),
    "debian-cloudwatch": (10, {"cloudwatch_logs"}),
    "debian-datadog": (10, {"datadog"}),
    "debian-forward": (10, {"forward"}),
    "debian-gcs": (10, {"gcs"}),
    "debian-graylog": (11, {"record_modifier", "gelf"}),
    "debian-kafka": (10, {"kafka_buffered"}),
    "debian-kafka2": (10, {"kafka2"}),
    "debian-kinesis": (10, {"kinesis_streams"}),
    "debian-logentries": (10, {"logentries"}),
    "debian-loggly": (10, {"loggly"}),
    "debian-logzio": (10, {"logzio_buffered"}),
    "debian-papertrail": (19, {"papertrail"}),
    "debian-s3": (10, {"s3"}),
    "debian-syslog": (10, {"remote_syslog"}),
}
CONTAINER = "web-7d4b9c-x2x4k_shop_app-" + "0123456789abcdef" * 4
CONTAINER_PATH = f"/var/log/containers/{CONTAINER}.log"


def conf(image: str) -> Path:
    assert IMAGES is not None
    return IMAGES / image / "conf" / "fluent.conf"


@pytest.fixture
def documented_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in [k for k in os.environ if k.startswith(("FLUENT_", "FLUENTD_"))]:
        monkeypatch.delenv(key)
    for key, value in DOCUMENTED_ENV.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


def test_the_corpus_holds_the_19_images() -> None:
    assert IMAGES is not None
    assert sorted(p.name for p in IMAGES.iterdir()) == sorted([*LOADING, *REFUSED])


@pytest.mark.parametrize("image", LOADING)
def test_image_loads_and_builds(image: str, documented_env: dict[str, str]) -> None:
    config = load_config(str(conf(image)))
    engine = Engine(config)  # every plugin built: options converted and checked
    sources = {spec.id: spec for spec in config.sources}
    assert len(sources) == 14  # the 14 kubernetes/*.conf tails
    assert sorted(p.name for p, _, _ in engine.inputs) == ["tail"] * 14
    assert [spec.type for spec in config.main.outputs] == ["elasticsearch"]
    assert [spec.type for spec in config.main.filters] == ["kubernetes_metadata"]
    assert [o.type for o in config.labels["@FLUENT_LOG"].outputs] == ["null"]


def _podlog_has(kind: str, fluentd_type: str) -> bool:
    return supported_type("output" if kind == "output" else "filter", fluentd_type)


def test_every_variable_the_elasticsearch_images_read_may_be_set(
        tmp_path: Path, documented_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings users change through the environment (use_default/use_nil ones included) still load."""
    template = tmp_path / "template.json"
    template.write_text('{"index_patterns": ["logstash-*"]}')
    for key, value in {
        "FLUENT_ELASTICSEARCH_USER": "elastic", "FLUENT_ELASTICSEARCH_PASSWORD": "pw",
        "FLUENT_ELASTICSEARCH_TARGET_INDEX_KEY": "index", "FLUENT_ELASTICSEARCH_TEMPLATE_NAME": "podlog",
        "FLUENT_ELASTICSEARCH_TEMPLATE_FILE": str(template), "FLUENT_ELASTICSEARCH_TEMPLATE_OVERWRITE": "true",
        "FLUENT_ELASTICSEARCH_APPLICATION_NAME": "shop", "FLUENT_ELASTICSEARCH_ENABLE_ILM": "true",
        "FLUENT_ELASTICSEARCH_ILM_POLICY_ID": "podlog", "FLUENT_ELASTICSEARCH_ILM_POLICY": '{"policy": {}}',
        "FLUENT_ELASTICSEARCH_SUPPRESS_TYPE_NAME": "true", "FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT": "2",
        "FLUENT_ELASTICSEARCH_BUFFER_QUEUE_LIMIT_LENGTH": "64", "FLUENT_ELASTICSEARCH_REQUEST_TIMEOUT": "30s",
        "FLUENT_OPENSEARCH_HOST": "opensearch", "FLUENT_OPENSEARCH_USER": "admin", "FLUENT_OPENSEARCH_PASSWORD": "pw",
        "FLUENT_OPENSEARCH_BUFFER_FLUSH_MODE": "interval", "FLUENT_OPENSEARCH_BUFFER_RETRY_FOREVER": "true",
        "FLUENT_OPENSEARCH_BUFFER_TOTAL_LIMIT_SIZE": "512M", "FLUENT_OPENSEARCH_CA_PATH": "/etc/ssl/ca.pem",
        "FLUENT_CONTAINER_TAIL_PARSER_TYPE": "cri", "FLUENT_POS_EXTRA_DIR": "podlog",
    }.items():
        monkeypatch.setenv(key, value)
    for image in LOADING:
        with collect():
            engine = Engine(load_config(str(conf(image))))
        (runner,) = [r for r in engine.runners if r.output.name == "elasticsearch"]
        if image != "debian-opensearch":
            assert runner.options.total_limit_size == 2 * 1024**2 * 64  # chunk 2M x queue_limit_length 64
            assert runner.output.options.user == "elastic"
    containers = next(s for s in load_config(str(conf("debian-elasticsearch8"))).sources
                      if s.id == "in_tail_container_logs")
    assert containers.options["pos_file"] == "/var/log/podlog/fluentd-containers.log.pos"  # File.join


def _unsupported_types(root: Element) -> set[str]:
    out = set()
    for el in root.elements:
        type_ = el.params.get("@type")
        kind = {"match": "output", "filter": "filter"}.get(el.name)
        if kind and type_ is not None and not _podlog_has(kind, type_.value):
            out.add(type_.value)
    return out


@pytest.mark.parametrize("image", sorted(REFUSED))
def test_image_is_refused_only_for_a_plugin_type_podlog_lacks(image: str, documented_env: dict[str, str]) -> None:
    line, lacking = REFUSED[image]
    path = conf(image)
    assert _unsupported_types(parse_fluentd(path.read_text(), str(path), documented_env)) == lacking
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    first = re.search(r"@type (\S+) is not supported by podlog", message)
    assert first is not None and first.group(1) in lacking, message
    assert message.startswith(f"{path}:{line}: "), message


def test_without_disabling_systemd_the_journal_source_is_refused_at_its_line(
        documented_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUENTD_SYSTEMD_CONF")
    with pytest.raises(ConfigError) as info:
        load_config(str(conf("debian-elasticsearch8")))
    systemd = conf("debian-elasticsearch8").parent / "systemd.conf"
    assert str(info.value).startswith(f"{systemd}:6: source: <source>: @type systemd is not supported by podlog")


def test_podlog_check_on_the_elasticsearch8_image_warns_about_each_setting_without_effect(
        documented_env: dict[str, str]) -> None:
    path = conf("debian-elasticsearch8")
    proc = subprocess.run([sys.executable, "-m", "podlog", "check", "-c", str(path)], capture_output=True,
                          text=True, env=documented_env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{path}: OK (14 sources, 2 outputs)\n"
    warned = []
    for line in proc.stderr.splitlines():
        m = re.match(r"podlog: warning: (.+?):(\d+): (\S+?):? ", line)
        assert m is not None, line
        warned.append((os.path.relpath(m.group(1), path.parent), int(m.group(2)), m.group(3)))
    klog_sources = ["cluster-autoscaler", "glbc", "kube-apiserver", "kube-controller-manager", "kube-proxy",
                    "kube-scheduler", "kubelet", "rescheduler"]
    assert sorted(warned) == sorted([
        ("fluent.conf", 5, "@include"), ("fluent.conf", 6, "@include"),  # disable.conf does not exist
        # multiline_flush_interval of the klog sources: their parser is not a multiline one
        *[(f"kubernetes/{name}.conf", 4, "source.multiline_flush_interval") for name in klog_sources],
        # the filter queries the API (its in-cluster URL is computed as the image's Ruby does); one list+watch
        ("kubernetes.conf", 37, "filter.watch"),
        *[("fluent.conf", n, f"match.{k}") for n, k in [
            (20, "ssl_version"), (23, "reload_connections"), (24, "reconnect_on_error"), (25, "reload_on_failure"),
            (26, "log_es_400_reason"), (32, "type_name"), (33, "include_timestamp"), (37, "sniffer_class_name")]],
    ])


def _dry_run(lines: list[str], tmp_path: Path, path: str = CONTAINER_PATH) -> list[dict[str, Any]]:
    sample = tmp_path / "sample.log"
    sample.write_text("".join(line + "\n" for line in lines))
    out = io.StringIO()
    assert check_lines(str(conf("debian-elasticsearch8")), str(sample), path=path, as_json=True, out=out) == 0
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def _delivered(report: dict[str, Any]) -> dict[str, Any]:
    (delivery,) = report["outputs"]
    assert (delivery["output"], delivery["type"], delivery["match"]) == ("out_es", "elasticsearch", "**")
    assert delivery["tag"] == f"kubernetes.var.log.containers.{CONTAINER}.log"  # tag kubernetes.* of the path
    return dict(delivery["record"])


KUBERNETES = {"pod_name": "web-7d4b9c-x2x4k", "namespace_name": "shop", "container_name": "app",
              "container_id": "0123456789abcdef" * 4}


def test_docker_lines_through_the_elasticsearch8_config(tmp_path: Path, documented_env: dict[str, str]) -> None:
    """Fluentd: <parse> @type json with time_format %Y-%m-%dT%H:%M:%S.%NZ reads docker's json-file lines;
    the event time is the "time" field (removed from the record), log and stream stay as they are."""
    reports = _dry_run([
        '{"log":"GET /healthz 200\\n","stream":"stdout","time":"2024-03-01T10:00:00.123456789Z"}',
        '{"log":"warn: \\u00e9t\\u00e9\\n","stream":"stderr","time":"2024-03-01T10:00:01.5Z"}',
    ], tmp_path)
    assert [r["line"] for r in reports] == [1, 2]
    first, second = (_delivered(r) for r in reports)
    assert first.pop("@timestamp") == "2024-03-01T10:00:00.123456789Z"
    assert first.pop("kubernetes") == KUBERNETES
    assert first == {"log": "GET /healthz 200\n", "stream": "stdout"}
    assert second.pop("@timestamp") == "2024-03-01T10:00:01.500Z"  # the same instant as .5
    assert second.pop("kubernetes") == KUBERNETES
    assert second == {"log": "warn: été\n", "stream": "stderr"}


def test_containerd_lines_through_the_elasticsearch8_config(tmp_path: Path, documented_env: dict[str, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Fluentd with FLUENT_CONTAINER_TAIL_PARSER_TYPE=cri: stream, message and the CRI time. podlog joins
    the P pieces of a long line into one record (Fluentd needs a concat filter for that)."""
    for key, value in CONTAINERD_ENV.items():
        monkeypatch.setenv(key, value)
    reports = _dry_run([
        "2024-03-01T10:00:01.123456789+00:00 stderr F connection refused",
        "2024-03-01T10:00:02.5Z stdout P first half, ",
        "2024-03-01T10:00:02.6Z stdout F second half",
    ], tmp_path)
    assert [(r["line"], r["held"]) for r in reports] == [(1, False), (2, True), (3, False)]
    first, joined = _delivered(reports[0]), _delivered(reports[2])
    assert first.pop("@timestamp") == "2024-03-01T10:00:01.123456789+00:00"
    assert first.pop("kubernetes") == KUBERNETES
    assert first == {"stream": "stderr", "message": "connection refused"}
    assert joined.pop("@timestamp") == "2024-03-01T10:00:02.5Z"
    assert joined.pop("kubernetes") == KUBERNETES
    assert joined == {"stream": "stdout", "message": "first half, second half"}


def test_kubelet_klog_lines_through_the_elasticsearch8_config(tmp_path: Path, documented_env: dict[str, str]) -> None:
    """kubernetes/kubelet.conf: <parse> @type kubernetes, Fluentd's klog regexp and time format %m%d."""
    reports = _dry_run(["I0301 10:00:02.000100    1234 kubelet.go:1520] \"Started kubelet\"",
                        "not klog at all"], tmp_path, path="/var/log/kubelet.log")
    (delivery,) = reports[0]["outputs"]
    assert delivery["tag"] == "kubelet"
    record = delivery["record"]
    stamp = record.pop("@timestamp")
    assert re.fullmatch(r"\d{4}-03-01T10:00:02\.000100Z", stamp), stamp  # the year: this one (klog has none)
    assert record == {"severity": "I", "pid": "1234", "source": "kubelet.go:1520", "message": '"Started kubelet"'}
    unparsed = reports[1]["outputs"][0]["record"]
    assert (unparsed["message"], unparsed["parse_error"]) == ("not klog at all", "not a klog line")
