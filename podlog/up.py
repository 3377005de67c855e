"""``podlog up``: collect, store, search and look, in one process on loopback.

With no arguments a demo workload writes Kubernetes container logs (``podlog.demo``) and the agent collects
them; ``--path GLOB`` collects the user's files instead, ``-c CONFIG`` runs the user's sources and filters
(their outputs are replaced by the store unless the config has a ``store`` output of its own). The agent runs
in threads, the API and UI in uvicorn on the main thread; Ctrl-C stops everything with the agent's usual
flush-and-checkpoint shutdown.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["up"]

log = logging.getLogger("podlog.up")

_STORE_OPTIONS = {"commit_interval": "1s", "index_all_fields": True,  # any field:value, at small rates
                  "retention": "7d", "max_size": "2GiB"}
_BUFFER = {"flush_interval": "1s"}


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _say(message: str) -> None:
    print(f"podlog up: {message}", file=sys.stderr, flush=True)


def demo_config(data: Path, demo_dir: Path, store: Path) -> str:
    """The agent config of the demo (written next to the data, so it can be read and reused)."""
    containers = demo_dir / "containers"
    state = data / "state"
    config = {
        "agent": {"grace_period": "5s", "data_dir": str(state)},
        "sources": [
            {"type": "tail", "tag": "kube.*", "path": [str(containers / "*.log")],
             "exclude_path": [str(containers / "nginx-*.log*")], "pos_file": str(state / "containers.pos"),
             "read_from_head": True, "parser": "json", "multiline": "java"},
            {"type": "tail", "tag": "kube.*", "path": [str(containers / "nginx-*.log")],
             "pos_file": str(state / "nginx.pos"), "read_from_head": True, "parser": "nginx"},
        ],
        "outputs": [{"type": "store", "match": "**", "path": str(store), **_STORE_OPTIONS, "buffer": _BUFFER}],
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML


def paths_config(globs: list[str], data: Path, store: Path) -> str:
    state = data / "state"
    config = {
        "agent": {"grace_period": "5s", "data_dir": str(state)},
        "sources": [{"type": "tail", "tag": "files.*", "path": globs, "pos_file": str(state / "files.pos"),
                     "read_from_head": True, "parser": "json"}],
        "outputs": [{"type": "store", "match": "**", "path": str(store), **_STORE_OPTIONS, "buffer": _BUFFER}],
    }
    return json.dumps(config, indent=2) + "\n"


def _store_specs(config: Any) -> list[Any]:
    found = []
    sections = [config.main, *config.labels.values()]
    for section in sections:
        for spec in section.outputs:
            for one in [spec, *spec.stores]:
                if one.type == "store":
                    found.append(one)
    return found


def user_config(path: str, store: Path) -> tuple[Any, str]:
    """The user's config, its outputs replaced by the store unless it has one; and the store's path."""
    from podlog.config.errors import Located
    from podlog.config.loader import load_config
    from podlog.config.model import PluginSpec

    config = load_config(path)
    stores = _store_specs(config)
    if stores:
        return config, str(stores[0].options.get("path", store))
    spec = PluginSpec(kind="output", type="store", options={"path": str(store), **_STORE_OPTIONS},
                      where=Located(path, 0, "podlog up"), match="**", buffer=dict(_BUFFER))
    replaced = sum(len(s.outputs) for s in [config.main, *config.labels.values()])
    config.main.outputs = [spec]
    for section in config.labels.values():
        section.outputs = [spec]
    if replaced:
        _say(f"{path}: its {replaced} output(s) are replaced by the store here (add a 'store' output to the "
             "config to keep them)")
    return config, str(store)


def up(config_path: str | None, globs: list[str], data_dir: str, listen: str, token: str | None,
       rate: float = 5.0) -> int:
    from podlog.config.errors import ConfigError
    from podlog.config.loader import load_config_text
    from podlog.engine import Engine
    from podlog.store.schema import Layout
    from podlog.web.server import make_server, parse_listen, resolve_token

    data = Path(data_dir).resolve()
    store = data / "store"
    data.mkdir(parents=True, exist_ok=True)
    demo = None
    try:
        host, port = parse_listen(listen)
        if config_path:
            config, store_path = user_config(config_path, store)
            source = f"the sources of {config_path}"
        else:
            if globs:
                text = paths_config(globs, data, store)
                source = f"files matching {', '.join(globs)}"
            else:
                from podlog.demo import DemoWorkload

                demo = DemoWorkload(str(data / "demo"), rate=rate)
                text = demo_config(data, demo.root, store)
                source = f"the demo workload writing CRI container logs under {demo.dir}"
            written = data / "up.yaml"
            written.write_text(text)
            config = load_config_text(text, str(written))
            store_path = str(store)
        engine = Engine(config)
    except (ConfigError, ValueError) as exc:
        print(f"podlog: {exc}", file=sys.stderr)
        return 2

    if demo is not None:
        demo.start()
        _say(f"demo workload: counter (1.log, 2.log via streaming sidecars), myapp, api (JSON, errors, Java "
             f"traces), nginx (access log) -> {demo.dir}")
    failed: list[str] = []
    servers: list[Any] = []

    def run_agent() -> None:
        try:
            engine.run(install_signals=False)
        except Exception as exc:  # e.g. the store is locked by another writer: say so and stop the server too
            failed.append(str(exc))
            _say(f"the agent stopped: {exc}")
            for server in servers:
                server.should_exit = True

    agent = threading.Thread(target=run_agent, name="agent", daemon=True)
    agent.start()
    _say(f"agent: collecting {source}" + (f" (config: {data / 'up.yaml'})" if not config_path else ""))
    # The store output creates the store (with its layout) when the agent starts; the API opens it then.
    deadline = time.monotonic() + 60
    while not (engine.started and Layout.load(store_path)) and not failed and time.monotonic() < deadline:
        time.sleep(0.05)
    if failed or Layout.load(store_path) is None:
        if not failed:
            _say(f"the store did not appear at {store_path}")
        engine.request_stop()
        agent.join(timeout=config.agent.grace_period + 10)
        if demo is not None:
            demo.stop()
        return 1
    _say(f"store: {store_path}")

    from podlog.web.api import create_app

    api_token = resolve_token(host, token, store_path)
    server = make_server(create_app(store_path, token=api_token), host, port)
    servers.append(server)
    if failed:
        server.should_exit = True

    def announce() -> None:
        deadline = time.monotonic() + 30
        while not server.started and not server.should_exit and time.monotonic() < deadline:
            time.sleep(0.05)
        sockets = [s for srv in (server.servers or []) for s in srv.sockets] if server.started else []
        if sockets:
            bound = sockets[0].getsockname()[1]
            url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}/"
            _say(f"UI and API: {url}" + (f"?token={api_token}" if api_token else "") + "   (Ctrl-C stops)")

    threading.Thread(target=announce, name="announce", daemon=True).start()
    # uvicorn re-raises the signal that stopped it once it has shut down: make that a clean stop here.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        _say("stopping: flushing the agent")
        engine.request_stop()
        agent.join(timeout=config.agent.grace_period + 10)
        if demo is not None:
            demo.stop()
    return 1 if failed else 0
