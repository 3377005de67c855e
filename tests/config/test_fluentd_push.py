"""fluent.conf ``<source>`` sections of type forward, http and syslog, shaped like the Fluentd docs' examples."""

from __future__ import annotations

import pytest

from podlog.config.errors import ConfigError
from podlog.config.fluentd import load_fluentd_text
from podlog.config.notices import collect
from podlog.engine import build_plugin

FORWARD = """\
<source>
  @type forward
  @id input_forward
  port 24224
  bind 0.0.0.0
  add_tag_prefix relayed
  <transport tls>
    cert_path /etc/td-agent/certs/fluentd.crt
    private_key_path /etc/td-agent/certs/fluentd.key
    private_key_passphrase YOUR_PASSPHRASE
  </transport>
  <security>
    self_hostname fluentd-aggregator
    shared_key secret_string
  </security>
</source>
"""
HTTP = """\
<source>
  @type http
  @id input_http
  port 8888
  bind 127.0.0.1
  body_size_limit 32m
  keepalive_timeout 10s
  add_remote_addr true
  cors_allow_origins ["http://example.com"]
</source>
"""
SYSLOG = """\
<source>
  @type syslog
  port 5140
  bind 0.0.0.0
  tag system
  <transport tcp>
  </transport>
  <parse>
    message_format rfc5424
  </parse>
</source>
<source>
  @type syslog
  port 5141
  tag legacy
  protocol_type udp
  message_length_limit 4096
</source>
"""
MATCH = "<match **>\n  @type stdout\n</match>\n"


def options(text: str, index: int = 0) -> dict[str, object]:
    spec = load_fluentd_text(text + MATCH, "fluent.conf", {}).sources[index]
    return {"type": spec.type, "id": spec.id, **spec.options}


def test_forward_source() -> None:
    opts = options(FORWARD)
    assert opts == {"type": "forward", "id": "input_forward", "port": "24224", "bind": "0.0.0.0",
                    "add_tag_prefix": "relayed", "tls": True, "cert_path": "/etc/td-agent/certs/fluentd.crt",
                    "private_key_path": "/etc/td-agent/certs/fluentd.key", "private_key_passphrase": "YOUR_PASSPHRASE",
                    "self_hostname": "fluentd-aggregator", "shared_key": "secret_string"}


def test_http_source_builds() -> None:
    spec = load_fluentd_text(HTTP + MATCH, "fluent.conf", {}).sources[0]
    plugin = build_plugin(spec)
    o = plugin.options
    assert (plugin.name, o.port, o.bind, o.body_size_limit, o.idle_timeout, o.add_remote_addr) == (
        "http", 8888, "127.0.0.1", 32 * 1024 * 1024, 10.0, True)


def test_syslog_sources_build() -> None:
    config = load_fluentd_text(SYSLOG + MATCH, "fluent.conf", {})
    tcp, udp = (build_plugin(s) for s in config.sources)
    assert (tcp.options.transport, tcp.options.tag, tcp.options.message_format) == ("tcp", "system", "rfc5424")
    assert (udp.options.transport, udp.options.message_length_limit) == ("udp", 4096)


@pytest.mark.parametrize(("text", "message"), [
    ("<source>\n  @type forward\n  <transport udp>\n  </transport>\n</source>\n",
     "fluent.conf:3: transport: the forward input listens on TCP"),
    ("<source>\n  @type forward\n  <security>\n    self_hostname a\n    shared_key k\n    user_auth true\n"
     "  </security>\n</source>\n", "fluent.conf:6: source.user_auth: unknown option"),
    ("<source>\n  @type syslog\n  tag s\n  <parse>\n    @type regexp\n    expression /x/\n  </parse>\n</source>\n",
     "fluent.conf:5: parse.type: the syslog input parses syslog itself"),
    ("<source>\n  @type http\n  port 8888\n  portt 1\n</source>\n",
     "fluent.conf:4: source.portt: unknown option (did you mean 'port'?)"),
])
def test_unsupported_parts_are_refused_at_their_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_plugin(load_fluentd_text(text + MATCH, "fluent.conf", {}).sources[0])
    assert str(info.value).startswith(message), str(info.value)


def test_check_input_dry_run_through_push_sources(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """``podlog check --input``: lines become what a client sends (JSON records; syslog parsed, tagged by pri)."""
    import orjson

    from podlog.cli import main

    conf = tmp_path / "fluent.conf"
    conf.write_text(FORWARD.replace("  <transport tls>\n    cert_path /etc/td-agent/certs/fluentd.crt\n"
                                    "    private_key_path /etc/td-agent/certs/fluentd.key\n"
                                    "    private_key_passphrase YOUR_PASSPHRASE\n  </transport>\n", "")
                    + SYSLOG + "<match relayed.**>\n  @type null\n</match>\n" + MATCH)
    sample = tmp_path / "sample.log"
    sample.write_bytes(b'{"user":7}\n')
    assert main(["check", "-c", str(conf), "--input", str(sample), "--tag", "app.web", "--json"]) == 0
    [report] = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert report["tag"] == "relayed.app.web" and report["records"][0]["user"] == 7
    assert [o["output"] for o in report["outputs"]] == ["null.0"]
    sample.write_bytes(b"<86>1 2024-05-01T12:00:00Z web sshd 12 - - Accepted key\n")
    assert main(["check", "-c", str(conf), "--input", str(sample), "--tag", "system.any", "--json"]) == 0
    [report] = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert report["tag"] == "system.authpriv.info"
    assert report["records"][0] == {"@timestamp": "2024-05-01T12:00:00Z", "host": "web", "ident": "sshd",
                                    "pid": "12", "message": "Accepted key", "pri": 86, "facility": "authpriv",
                                    "severity": "info"}


def test_push_options_without_effect_are_reported_where_set() -> None:
    """Fluentd options the push inputs accept but do not act on are declared ``ignored``: `podlog check` names
    each one at its line instead of taking it silently."""
    text = HTTP.replace("</source>", "  respond_with_empty_img true\n</source>")
    with collect() as notices:
        build_plugin(load_fluentd_text(text + MATCH, "fluent.conf", {}).sources[0])
    assert [str(n) for n in notices] == [
        "fluent.conf:9: source.cors_allow_origins: accepted for compatibility, has no effect: "
        "no CORS headers are sent.",
        "fluent.conf:10: source.respond_with_empty_img: accepted for compatibility, has no effect: "
        "answers carry no image."]
