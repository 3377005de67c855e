"""Typed options (issue 8): mypy knows what an option holds, the declaration stays the one source.

``Option("str", ...)`` is an ``Option[str]`` to mypy and, read on an Options
instance, a ``str``; each plugin annotates ``options`` with its own nested
Options class. Before, every ``self.options.x`` was an ``Option`` (or ``Any``) to
mypy, so a wrong use passed unnoticed: the mypy test below runs mypy itself
on a snippet that misuses options and checks it is told so, line by line.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from podlog.config.errors import ConfigError, Located
from podlog.config.options import Option, Options
from podlog.config.registry import KINDS, available

api = pytest.importorskip("mypy.api", reason="mypy is a test dependency (pip install -e '.[test]')")

SNIPPET = '''
from podlog.config.options import Option, Options
from podlog.outputs.file import FileOutput


class Settings(Options):
    path = Option("str", "")
    limit = Option("size", 0)
    wait = Option("duration", 1.0)
    keys = Option("list", [])
    anything = Option("any", None)


def good(s: Settings, out: FileOutput) -> None:
    text: str = s.path
    size: int = s.limit
    seconds: float = s.wait
    names: list[str] = s.keys
    whatever: bytes = s.anything
    fsync: bool = out.options.fsync
    declared: Option[str] = Settings.path


def bad(s: Settings, out: FileOutput) -> None:
    n: int = s.path
    text: str = s.limit
    keys: dict[str, str] = s.keys
    fsync: str = out.options.fsync
    out.options.no_such_option
'''
FIRST_BAD = SNIPPET.lstrip("\n").splitlines().index("    n: int = s.path") + 1


def test_mypy_reports_a_wrong_use_of_an_option(tmp_path: Path) -> None:
    module = tmp_path / "snippet.py"
    module.write_text(SNIPPET.lstrip("\n"))
    stdout, _, _ = api.run([str(module), "--follow-imports=silent", "--no-error-summary", "--show-error-codes",
                            "--cache-dir", str(tmp_path / "cache"), "--config-file", ""])
    errors = {int(m.group(1)): m.group(2) for m in re.finditer(r"snippet\.py:(\d+): error: (.*)", stdout)}
    assert errors == {
        FIRST_BAD: 'Incompatible types in assignment (expression has type "str", variable has type "int")  '
                   "[assignment]",
        FIRST_BAD + 1: 'Incompatible types in assignment (expression has type "int", variable has type "str")  '
                       "[assignment]",
        FIRST_BAD + 2: 'Incompatible types in assignment (expression has type "list[str]", variable has type '
                       '"dict[str, str]")  [assignment]',
        FIRST_BAD + 3: 'Incompatible types in assignment (expression has type "bool", variable has type "str")  '
                       "[assignment]",
        FIRST_BAD + 4: '"Options" has no attribute "no_such_option"  [attr-defined]',
    }, stdout


class _Declared(Options):
    path = Option("str", "/var/log")
    and_ = Option("list", [], name="and")  # a Python keyword as the config name


def test_an_option_is_its_declaration_on_the_class_and_its_value_on_an_instance() -> None:
    options = _Declared.from_mapping({"path": "/x", "and": "a,b"}, Located("t.yaml", 1, ""), "")
    assert isinstance(_Declared.path, Option) and _Declared.path.default == "/var/log"
    assert options.path == "/x"
    assert options.and_ == ["a", "b"] == getattr(options, "and")  # read through the declared name
    assert _Declared.defaults().and_ == [] and _Declared.defaults().path == "/var/log"


def test_an_unknown_option_type_is_refused_where_it_is_declared() -> None:
    with pytest.raises(TypeError, match="unknown option type 'string'"):
        Option("string", "")  # mypy refuses it too (no overload for "string")


def _plugins() -> list[type]:
    return [cls for kind in KINDS for cls in available(kind).values()]


@pytest.mark.parametrize("cls", _plugins(), ids=lambda cls: f"{cls.kind}:{cls.name}")
def test_every_plugin_types_its_options_with_its_own_declaration(cls: type) -> None:
    """A plugin that declares options says so to mypy: ``options: Options`` beside its nested class."""
    owner = next(c for c in cls.__mro__ if "Options" in vars(c))
    if owner.__module__ == "podlog.plugin":
        return  # declares nothing of its own
    assert inspect.get_annotations(owner).get("options") == "Options", (
        f"{owner.__qualname__} declares Options but not `options: Options`")


# -- cross-option rules live in Options.validate(): refused when options are read, before any plugin is built


def _read(kind: str, name: str, values: dict[str, object]) -> Options:
    return available(kind)[name].Options.from_mapping(values, Located("agent.yaml", 3, "x"), "x.")


@pytest.mark.parametrize(("kind", "name", "values", "key", "message"), [
    ("filter", "sample", {}, "interval", "set exactly one of interval (1 in N) or probability (0 to 1)"),
    ("filter", "sample", {"interval": 2, "probability": 0.5}, "interval", "set exactly one of interval"),
    ("filter", "sample", {"interval": 2, "hash_key": "trace", "minimum_rate_per_min": 5}, "minimum_rate_per_min",
     "cannot be combined with hash_key"),
    ("input", "forward", {"tls": True, "tls_cert_path": "c.pem"}, "tls", "TLS needs tls_cert_path and tls_key_path"),
    ("input", "http", {"tls": True, "tls_cert_path": "c", "tls_key_path": "k", "tls_client_auth": True},
     "tls_client_auth", "client certificate checks need tls_ca_path"),
    ("input", "kubernetes_events", {"leader_election": True, "renew_deadline": "20s", "lease_duration": "15s"},
     "renew_deadline", "must be shorter than lease_duration"),
    ("parser", "grok", {"pattern": " "}, "pattern", "a grok expression is needed (pattern or patterns)"),
])
def test_cross_option_rules_are_checked_with_the_options(
        kind: str, name: str, values: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _read(kind, name, values)
    assert str(info.value).startswith(f"agent.yaml:3: x.{key}: {message}"), str(info.value)


def test_options_that_follow_the_rules_are_read() -> None:
    assert vars(_read("filter", "sample", {"probability": 0.1}))["probability"] == 0.1
    assert vars(_read("input", "forward", {"tls": False, "tls_client_auth": True}))["tls_client_auth"] is True
    # without leader election the lease timings are not used, so not checked
    _read("input", "kubernetes_events", {"renew_deadline": "20s", "lease_duration": "15s"})

