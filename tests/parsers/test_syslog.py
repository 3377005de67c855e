from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given

from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

RFC3164 = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"
FILE_3164 = b"Feb  5 17:32:18 node-1 sshd[1234]: Accepted publickey for core from 10.0.0.2 port 22 ssh2"
RFC5424 = (
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
    b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \xef\xbb\xbfAn application event log entry'
)
RFC5424_NIL = b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."
LINES = [RFC3164, FILE_3164, RFC5424, RFC5424_NIL]


def test_rfc3164() -> None:
    (rec,) = make("syslog").parse([RFC3164])
    year = datetime.now(timezone.utc).year
    assert rec["@timestamp"] in (f"{year}-10-11T22:14:15Z", f"{year - 1}-10-11T22:14:15Z")
    del rec["@timestamp"]
    assert rec == {
        "host": "mymachine", "ident": "su", "message": "'su root' failed for lonvick on /dev/pts/8",
        "pri": 34, "facility": "auth", "severity": "crit",
    }


def test_rfc3164_without_priority_as_in_files() -> None:
    (rec,) = make("syslog").parse([FILE_3164])
    assert rec["host"] == "node-1" and rec["ident"] == "sshd" and rec["pid"] == "1234" and "pri" not in rec
    assert rec["message"].startswith("Accepted publickey")


def test_rfc5424_with_structured_data_and_bom() -> None:
    (rec,) = make("syslog").parse([RFC5424])
    assert rec == {
        "host": "mymachine.example.com", "ident": "evntslog", "msgid": "ID47",
        "extradata": '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]',
        "message": "An application event log entry", "pri": 165, "facility": "local4", "severity": "notice",
        "@timestamp": "2003-10-11T22:14:15.003Z",
    }


def test_rfc5424_nil_values_are_left_out() -> None:
    (rec,) = make("syslog").parse([RFC5424_NIL])
    assert "msgid" not in rec and "extradata" not in rec
    assert rec["pid"] == "8710" and rec["@timestamp"] == "2003-08-24T12:14:15.000003Z"


def test_fixed_message_format() -> None:
    out = make("syslog", message_format="rfc5424").parse([RFC3164, RFC5424])
    assert isinstance(out[0], ParseFailure) and isinstance(out[1], dict)
    out = make("syslog", message_format="rfc3164", priority_names=False).parse([RFC3164])
    assert "facility" not in out[0] and out[0]["pri"] == 34


def test_priority_out_of_range() -> None:
    assert isinstance(make("syslog").parse([b"<192>Oct 11 22:14:15 host a: b"])[0], ParseFailure)


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("syslog"), messages)
