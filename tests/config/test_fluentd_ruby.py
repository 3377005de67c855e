"""The embedded Ruby subset of fluent.conf (``"#{...}"``), evaluated without Ruby, as Ruby would."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from podlog.config.errors import ConfigError
from podlog.config.fluentd import load_fluentd_text
from podlog.config.fluentd_ruby import USE_DEFAULT, USE_NIL, RubyError, UnsetVariable, evaluate, to_s
from podlog.config.fluentd_syntax import parse_fluentd
from podlog.config.notices import collect
from tests.config.test_fluentd_daemonset import DOCUMENTED_ENV, IMAGES
from tests.conftest import NO_IMAGES


@pytest.mark.parametrize(
    ("code", "env", "value"),
    [
        ("ENV['A']", {"A": "x"}, "x"),
        ("ENV['A']", {}, None),
        ('ENV["A"] || "d"', {}, "d"),
        ("ENV['A'] || 'd'", {"A": ""}, ""),  # Ruby: "" is true, so no default
        ("ENV['A'] || ENV['B']", {"B": "b"}, "b"),
        ("ENV['A'] || ENV['B'] || 'c'", {}, "c"),
        ("ENV['A'] || nil", {}, None),
        ("ENV['A'] || true", {}, True),
        ("ENV['A'] || false", {}, False),
        ("ENV['A'] || 1", {}, 1),
        ("ENV['A'] || -1", {}, -1),
        ("ENV['A'] || use_default", {}, USE_DEFAULT),
        ("ENV['A'] || use_nil", {}, USE_NIL),
        ("ENV['A'] || use_nil", {"A": "set"}, "set"),
        ("ENV.fetch('A', 'd')", {}, "d"),
        ("ENV.fetch('A')", {"A": "a"}, "a"),
        ("File.join('/var/log/', ENV.fetch('X', ''), 'f.pos')", {}, "/var/log/f.pos"),
        ("File.join('/var/log/', ENV.fetch('X', ''), 'f.pos')", {"X": "extra"}, "/var/log/extra/f.pos"),
        ("File.join('/var/log/', ENV.fetch('X', ''), 'f.pos')", {"X": "/extra/"}, "/var/log/extra/f.pos"),
        ("File.join('a', 'b')", {}, "a/b"),
        ("'it\\'s'", {}, "it's"),
        # Once a value is found, Ruby does not evaluate the rest: neither does podlog.
        ("ENV['URL'] || (host = ENV.fetch('H'); 'https://' + host)", {"URL": "https://k"}, "https://k"),
    ],
)
def test_the_subset(code: str, env: dict[str, str], value: object) -> None:
    assert evaluate(code, env) == value


def test_host_name_and_worker() -> None:
    assert evaluate("Socket.gethostname", {}) == socket.gethostname() == evaluate("hostname", {})
    assert evaluate("worker_id", {}) == "0"


@pytest.mark.parametrize(
    "code",
    ["`hostname`.chomp", "ENV['A'].upcase", "ENV['A'] + 'x'", "1 + 1", "Time.now",
     "ENV['URL'] || (host = ENV.fetch('H'); 'https://' + host)", "File.join(1, 'a')"],
)
def test_anything_else_is_refused(code: str) -> None:
    with pytest.raises(RubyError):
        evaluate(code, {})


def test_fetch_of_an_unset_variable() -> None:
    with pytest.raises(UnsetVariable, match="environment variable H is not set"):
        evaluate("ENV.fetch('H')", {})


def test_interpolation_prints_like_ruby() -> None:
    assert [to_s(v) for v in (None, True, False, 3, "x")] == ["", "true", "false", "3", "x"]
    root = parse_fluentd('<a>\n  x "v=#{ENV[\'N\'] || 1}/#{ENV[\'M\']}"\n  flag\n</a>\n', "f.conf", {})
    assert {k: p.value for k, p in root.elements[0].params.items()} == {"x": "v=1/", "flag": ""}


def test_use_default_and_use_nil_leave_the_parameter_unset() -> None:
    text = ("<a>\n  user \"#{ENV['U'] || use_default}\"\n  key \"#{ENV['K'] || use_nil}\"\n"
            "  keep \"#{ENV['K'] || 'k'}\"\n</a>\n")
    assert set(parse_fluentd(text, "f.conf", {}).elements[0].params) == {"keep"}
    assert set(parse_fluentd(text, "f.conf", {"U": "u", "K": ""}).elements[0].params) == {"user", "key", "keep"}
    with pytest.raises(ConfigError, match=r"f.conf:1: @include: use_default gives no file to include"):
        parse_fluentd("@include \"#{use_default}\"\n", "f.conf", {})


URL = ("\"#{ENV['FLUENT_FILTER_KUBERNETES_URL'] || (host = ENV.fetch('KUBERNETES_SERVICE_HOST'); "
       "'https://' + host + '/api')}\"")
TAIL = "<source>\n  @type tail\n  path /x\n</source>\n"


def test_unevaluable_ruby_is_refused_only_where_it_would_matter() -> None:
    """watch of kubernetes_metadata has no effect in podlog (it always watches): its Ruby need not be evaluated."""
    text = TAIL + f"<filter **>\n  @type kubernetes_metadata\n  watch {URL}\n</filter>\n"
    with collect() as notices:
        config = load_fluentd_text(text, "f.conf", {})
        from podlog.engine import Engine

        Engine(config)
    assert [str(n) for n in notices] == [
        "f.conf:7: filter.watch: its embedded Ruby is outside what podlog evaluates, and the option has no "
        "effect anyway: podlog always uses one list+watch of the node's pods."]
    # The same code where the value is used: refused at its line, saying how to avoid it.
    text = TAIL + f"<match **>\n  @type elasticsearch\n  host {URL}\n</match>\n"
    with pytest.raises(ConfigError) as info:
        load_fluentd_text(text, "f.conf", {})
    assert str(info.value).startswith("f.conf:7: embedded Ruby '#{ENV['FLUENT_FILTER_KUBERNETES_URL'] || (host")
    assert "is outside the Ruby podlog evaluates; set FLUENT_FILTER_KUBERNETES_URL to skip it" in str(info.value)
    assert load_fluentd_text(text, "f.conf", {"FLUENT_FILTER_KUBERNETES_URL": "es:9200"}).main.outputs[0].options == {
        "host": "es:9200"}


@pytest.mark.skipif(IMAGES is None, reason=NO_IMAGES)
def test_every_embedded_expression_of_the_19_images() -> None:
    """Every distinct ``#{...}`` of the real files evaluates, but for the kubernetes_url one (without its
    variable); with FLUENT_FILTER_KUBERNETES_URL set, that one too."""
    assert IMAGES is not None
    codes: set[str] = set()
    for path in IMAGES.rglob("*.conf"):
        for line in Path(path).read_text().splitlines():
            if not line.lstrip().startswith("#"):
                codes.update(re.findall(r"#\{(.*?)\}(?=\"|/|&|\.conf)", line))
    assert len(codes) > 150
    refused = set()
    for code in codes:
        try:
            evaluate(code, DOCUMENTED_ENV)
        except RubyError:
            refused.add(code)
    assert len(refused) == 1 and next(iter(refused)).startswith("ENV['FLUENT_FILTER_KUBERNETES_URL'] || (host =")
    env = {**DOCUMENTED_ENV, "FLUENT_FILTER_KUBERNETES_URL": "https://10.0.0.1:443/api"}
    assert evaluate(next(iter(refused)), env) == "https://10.0.0.1:443/api"
