"""``podlog serve`` off loopback (a real process): a token is generated, saved, printed and required."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("tantivy")

from tests.conftest import PODLOG, wait_for
from tests.store.helpers import BASE_MS, make_store, record, write
from tests.store.test_output import _free_port


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


def test_off_loopback_requires_the_generated_token(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "store")
    write(writer, [record(BASE_MS, "hello")])
    writer.close()
    port = _free_port()
    proc = subprocess.Popen([*PODLOG, "serve", "--store", str(tmp_path / "store"), "--listen", f"0.0.0.0:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}/api/search?from=0"
    try:
        assert wait_for(lambda: _get(url) == 401, 30)
        token = (tmp_path / "store" / "api-token").read_text().strip()
        assert _get(url, token) == 200
        assert _get(url + "&token=" + token) == 200
        assert _get(url, "wrong") == 401
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json", timeout=5) as r:
            assert json.load(r)["openapi"].startswith("3.")
    finally:
        proc.terminate()
        proc.wait(10)
        reader.join(5)
        if proc.stderr is not None:
            proc.stderr.close()
    assert any(token in line for line in lines)  # printed once, at the start that generated it
