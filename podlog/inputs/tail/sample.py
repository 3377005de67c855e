"""The tail input in a dry run: sample lines through the codec a real file would get.

``podlog check --input`` feeds lines as if the tail source read them from a file
at the sample's path: the same envelope detection, fragment joining, multiline
and parser (``TailInput.codec_for``), nothing opened or watched.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from typing import Any

from podlog.codecs.container import LineCodec
from podlog.inputs._base import Sampler
from podlog.inputs.tail.scan import expand_time

CodecFor = Callable[[str, bytes], LineCodec]  # TailInput.codec_for: the codec of a file from its first line

__all__ = ["TailSampler", "sampler_for"]


def sampler_for(options: Any, codec_for: CodecFor, tag_for: Callable[[str], str], tag: str | None,
                path: str) -> TailSampler | None:
    """The tail's sampler for lines from ``path`` (its options and codec); None when its records cannot carry
    ``tag``."""
    if tag is not None and not _tag_matches(options.tag, tag):
        return None
    return TailSampler(options, codec_for, tag or tag_for(path), path, follows(options, path))


def _tag_matches(source_tag: str, tag: str) -> bool:
    """``tag`` could come from a source tagged ``source_tag`` (``*`` stands for a file path)."""
    if "*" not in source_tag:
        return source_tag == tag
    return re.fullmatch(".+".join(map(re.escape, source_tag.split("*"))), tag) is not None


def follows(o: Any, path: str) -> bool:
    """Whether a tail source with options ``o`` would follow ``path`` (its globs, dated for now, minus its
    excludes)."""
    if not any(fnmatch.fnmatchcase(path, expand_time(p)) for p in o.path):
        return False
    return not any(fnmatch.fnmatchcase(path, ex) or fnmatch.fnmatchcase(os.path.basename(path), ex)
                   for ex in o.exclude_path)


class TailSampler(Sampler):
    about = "read by"

    def __init__(self, options: Any, codec_for: CodecFor, tag: str, path: str, following: bool) -> None:
        super().__init__(tag, own_tag=True, follows=following)
        self.options = options
        self.codec_for = codec_for
        self.path = path
        self.codec: LineCodec | None = None  # made at the first line: the envelope is detected from it

    def decode(self, line: bytes) -> tuple[str, list[bytes]]:
        if self.codec is None:
            self.codec = self.codec_for(self.path, line)
        docs: list[bytes] = []
        self.codec.decode([line], 0, docs, [])
        return self.tag, docs

    def held(self) -> bool:
        return self.codec is not None and self.codec.held_from() is not None

    def flush(self) -> list[bytes]:
        docs: list[bytes] = []
        if self.held():
            assert self.codec is not None
            self.codec.flush_partials(docs, [])
        return docs

    def describe(self) -> str:
        fmt = self.options.container_format
        text = f"  envelope: container_format {fmt}{' (detected per file)' if fmt == 'auto' else ''}"
        return text + (f", file path {self.path}\n" if "*" in self.options.tag else "\n")
