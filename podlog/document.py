"""The layout of the documents podlog builds, which outputs may read without decoding.

Records that podlog builds itself (the container codecs, the access-log
parsers) are serialised with ``@timestamp`` as their first key, as an RFC 3339
string: ``{"@timestamp":"2024-05-01T12:00:00.1Z",...}``. An output can then take
a document's time from its first bytes. Any other document (built by a filter,
received from a push input) is still valid: ``leading_timestamp`` returns None
and the caller decodes it if it needs the time.
"""

from __future__ import annotations

__all__ = ["TIMESTAMP_HEAD", "leading_timestamp"]

TIMESTAMP_HEAD = b'{"@timestamp":"'
_START = len(TIMESTAMP_HEAD)


def leading_timestamp(doc: bytes) -> bytes | None:
    """The ``@timestamp`` value of a document that starts with it, without decoding; None otherwise.

    Only the leading position is read (never a search), so the answer is the same for the same
    bytes: Elasticsearch ``_id`` values are derived from it and must not change between runs.
    """
    if not doc.startswith(TIMESTAMP_HEAD):
        return None
    end = doc.find(b'"', _START)
    return doc[_START:end] if end > _START else None
