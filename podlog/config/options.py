"""Plugin options, declared once.

Each plugin has a nested ``Options`` class whose attributes are ``Option``
objects. That one declaration drives config parsing and validation, the
errors a user sees (``file:line: key: what is wrong``), ``podlog check`` and
the generated reference in ``docs/reference/``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypedDict, TypeVar, overload

from podlog.config.errors import ConfigError, Located, Unevaluated
from podlog.config.notices import notice

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

__all__ = ["Option", "Options", "parse_duration", "parse_size"]

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}
_NUM_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")


def parse_size(value: Any) -> int:
    """``64KiB``, ``2M``, ``512`` -> bytes. Fluentd's ``8m`` means MiB-ish; we follow SI vs IEC suffixes."""
    if isinstance(value, bool):
        raise ValueError("expected a size like 8MiB")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value!r}")
        return value
    m = _NUM_UNIT.match(str(value))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS:
        raise ValueError(f"expected a size like 64KiB or 8M, got {value!r}")
    if unit in ("k", "m", "g"):  # Fluentd/Fluent Bit habit: 8m means 8 MiB
        unit += "i"
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def parse_duration(value: Any) -> float:
    """``5s``, ``250ms``, ``1m``, ``2`` (seconds) -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 5s")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    m = _NUM_UNIT.match(str(value))
    if not m or m.group(2).lower() not in _DURATION_UNITS:
        raise ValueError(f"expected a duration like 5s or 250ms, got {value!r}")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":  # a bare Fluentd flag (``retry_forever`` with no value) means true, as in Fluentd
        return True
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None


def _as_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError(f"expected a string, got a {type(value).__name__}")
    return str(value)


def _as_list(value: Any) -> list[str]:
    """A YAML list, a JSON array in a string, or a comma-separated string (Fluentd's array type reads both:
    ``exclude_path "#{ENV['X']}"`` gets ``["/a*", "/b*"]`` or ``/a*,/b*`` from the environment)."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, list):
        return [_as_str(v) for v in value]
    if isinstance(value, dict):
        raise ValueError("expected a list")
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _as_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, got {value!r}")
    return dict(value)


def _as_any(value: Any) -> Any:
    return value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": _as_str, "int": _as_int, "float": _as_float, "bool": _as_bool,
    "size": parse_size, "duration": parse_duration, "list": _as_list,
    "dict": _as_dict, "any": _as_any,
}
_REQUIRED: Any = object()
T = TypeVar("T")


class _Extra(TypedDict, total=False):
    """The keywords every ``Option`` takes besides its type and default."""

    doc: str
    choices: tuple[str, ...]
    aliases: tuple[str, ...]
    name: str
    ignored: str
    min: float | None
    max: float | None


class Option(Generic[T]):
    """One declared option: type name, default, doc, allowed values and range.

    ``ignored``: accepted for compatibility (a Fluentd name) but without effect;
    the string says why, and ``podlog check`` warns where the config sets it.
    ``min``/``max``: the inclusive range of an int, float, size or duration
    option, checked at load and shown in the reference.

    Typed for mypy without changing a declaration: the overloads of
    ``__init__`` map the type name (``"str"``, ``"size"``...) to the Python
    type of the converted value, so ``path = Option("str", "")`` is an
    ``Option[str]``. The class is a non-data descriptor: on the ``Options``
    class it is the declaration, on an instance the converted value (stored in
    the instance's ``__dict__`` by ``from_mapping``, which Python reads before
    a non-data descriptor: no cost per read). So ``options.path`` is a ``str``
    to mypy and at run time, and no second, parallel declaration (a dataclass
    field per option) can drift from this one.
    """

    __slots__ = ("aliases", "choices", "default", "doc", "ignored", "max", "min", "name", "type")

    @overload
    def __init__(self: Option[str], type: Literal["str"], default: str = ..., **extra: Unpack[_Extra]) -> None: ...
    @overload
    def __init__(self: Option[int], type: Literal["int", "size"], default: int = ...,
                 **extra: Unpack[_Extra]) -> None: ...
    @overload
    def __init__(self: Option[float], type: Literal["float", "duration"], default: float = ...,
                 **extra: Unpack[_Extra]) -> None: ...
    @overload
    def __init__(self: Option[bool], type: Literal["bool"], default: bool = ..., **extra: Unpack[_Extra]) -> None: ...
    @overload
    def __init__(self: Option[list[str]], type: Literal["list"], default: list[str] = ...,
                 **extra: Unpack[_Extra]) -> None: ...
    @overload
    def __init__(self: Option[dict[str, Any]], type: Literal["dict"], default: dict[str, Any] = ...,
                 **extra: Unpack[_Extra]) -> None: ...
    @overload
    def __init__(self: Option[Any], type: Literal["any"], default: Any = ..., **extra: Unpack[_Extra]) -> None: ...

    def __init__(self, type: str, default: Any = _REQUIRED, doc: str = "", choices: tuple[str, ...] = (),
                 aliases: tuple[str, ...] = (), name: str = "", ignored: str = "", min: float | None = None,
                 max: float | None = None) -> None:
        if type not in _CONVERTERS:
            raise TypeError(f"unknown option type {type!r}; valid: {', '.join(_CONVERTERS)}")
        self.type = type
        self.default = default
        self.doc = doc
        self.choices = choices
        self.aliases = aliases
        self.name = name
        self.ignored = ignored
        self.min = min
        self.max = max

    def __repr__(self) -> str:
        return f"Option({self.type!r}, {self.default!r}, name={self.name!r})"

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Option[T]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any]) -> T: ...

    def __get__(self, instance: object | None, owner: type[Any]) -> Option[T] | T:
        if instance is None:
            return self
        # Reached only when the attribute differs from the option's name (``and_`` for ``and``).
        try:
            return vars(instance)[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def convert(self, value: Any) -> Any:
        converted = _CONVERTERS[self.type](value)
        if self.choices and converted not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {value!r}")
        if self.min is not None and converted < self.min:
            raise ValueError(f"must be at least {self.bound(self.min)}, got {value!r}")
        if self.max is not None and converted > self.max:
            raise ValueError(f"must be at most {self.bound(self.max)}, got {value!r}")
        return converted

    def bound(self, value: float) -> str:
        """A bound as the user would write it: ``1KiB``, ``0.1s``, ``1``."""
        if self.type == "size":
            for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
                if value >= factor and value % factor == 0:
                    return f"{int(value // factor)}{unit}"
            return f"{int(value)}B" if value else "0"
        if self.type == "duration":
            return f"{value:g}s"
        return f"{value:g}"

    @property
    def range(self) -> str:
        """``1..64``, ``>= 1KiB``: the range for the reference ('' if unbounded)."""
        if self.min is not None and self.max is not None:
            return f"{self.bound(self.min)}..{self.bound(self.max)}"
        if self.min is not None:
            return f">= {self.bound(self.min)}"
        if self.max is not None:
            return f"<= {self.bound(self.max)}"
        return ""


class Options:
    """Base for a plugin's option set; subclasses declare ``Option`` attributes.

    An instance holds converted values as attributes.
    """

    _declared: ClassVar[dict[str, Option[Any]]] = {}
    _where: Located | None = None

    def __init_subclass__(cls) -> None:
        declared: dict[str, Option[Any]] = {}
        for base in reversed(cls.__mro__[1:]):
            declared.update(getattr(base, "_declared", {}))
        for key, value in vars(cls).items():
            if isinstance(value, Option):
                value.name = value.name or key  # a declared name may be a Python keyword ("and")
                declared[key] = value
        cls._declared = declared

    @classmethod
    def declared(cls) -> dict[str, Option[Any]]:
        return dict(cls._declared)

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], where: Located, prefix: str, ignore: tuple[str, ...] = ()
    ) -> Self:
        """Convert and validate ``values``; errors point at file:line and key."""
        self = cls.__new__(cls)
        self._where = where
        lookup: dict[str, Option[Any]] = {}
        for opt in cls._declared.values():
            lookup[opt.name] = opt
            for alias in opt.aliases:
                lookup[alias] = opt
        seen: set[str] = set()
        for key, raw in values.items():
            if key in ignore:
                continue
            found = lookup.get(key)
            if found is None:
                hint = difflib.get_close_matches(key, list(lookup), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(where.child(key), f"unknown option{extra}; valid: {', '.join(sorted(cls._declared))}")
            if isinstance(raw, Unevaluated):
                if not found.ignored:
                    raise raw.error
                notice(where.child(key), "its embedded Ruby is outside what podlog evaluates, and the option has "
                                         f"no effect anyway: {found.ignored}")
                continue
            try:
                setattr(self, found.name, found.convert(raw))
            except ValueError as exc:
                raise ConfigError(where.child(key), str(exc)) from None
            seen.add(found.name)
            if found.ignored:
                notice(where.child(key), f"accepted for compatibility, has no effect: {found.ignored}")
        for opt in cls._declared.values():
            if opt.name in seen:
                continue
            if opt.required:
                raise ConfigError(where, f"{prefix}{opt.name}: required option is missing")
            default = opt.default
            setattr(self, opt.name, list(default) if isinstance(default, list) else default)
        self.validate(seen)
        return self

    def validate(self, given: set[str]) -> None:
        """Rules between options (``given``: the names the config set); raise ``self.error(key, why)``."""

    @classmethod
    def defaults(cls) -> Self:
        """Options with every default (tests and programmatic use)."""
        return cls.from_mapping({}, Located("<defaults>", 0, ""), "")

    def error(self, key: str, message: str) -> ConfigError:
        """An error about one of these options, located at its config line."""
        where = self._where or Located("<config>", 0, "")
        return ConfigError(where.child(key), message)
