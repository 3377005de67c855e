from __future__ import annotations

import pytest

from podlog.parsers._util import decode_lines, parse_types, ruby_to_python_regex
from podlog.plugin import available, lookup

NAMES = ["apache2", "csv", "delimiter", "grok", "json", "kubernetes", "logfmt", "multi_format", "nginx", "none",
         "regex", "syslog"]


def test_every_parser_is_found_by_name_and_alias() -> None:
    assert sorted(available("parser")) == NAMES
    for name, alias in [("apache2", "apache"), ("apache2", "httpd"), ("regex", "regexp"), ("delimiter", "tsv")]:
        assert lookup("parser", alias) is lookup("parser", name)


@pytest.mark.parametrize("name", NAMES)
def test_every_option_is_documented(name: str) -> None:
    for option in lookup("parser", name).Options.declared().values():
        assert option.doc, f"{name}.{option.name} has no doc"


def test_parse_types() -> None:
    assert parse_types("a:integer, b:time:%s,c:array:|") == {
        "a": ("integer", ""), "b": ("time", "%s"), "c": ("array", "|")
    }
    assert parse_types({"x": "bool"}) == {"x": ("bool", "")}
    with pytest.raises(ValueError):
        parse_types("a")
    with pytest.raises(ValueError):
        parse_types("a:complex")


def test_decode_lines() -> None:
    assert decode_lines([b"a", b"b\r", b"\xff"]) == ["a", "b", "\ufffd"]
    assert decode_lines([b"a\nb", b"c"]) == ["a\nb", "c"]
    assert decode_lines([]) == []


def test_ruby_groups() -> None:
    assert ruby_to_python_regex(r"(?<a>x)(?<=y)(?<!z)\(?<b>") == r"(?P<a>x)(?<=y)(?<!z)\(?<b>"
