"""The ``podlog`` command. Subcommands import what they need, so ``stream`` stays small."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from podlog import __version__

if TYPE_CHECKING:
    from podlog.pipeline import Pipeline

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="podlog", description="Kubernetes logging: agent, sidecar, store.")
    p.add_argument("--version", action="version", version=f"podlog {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    agent = sub.add_parser("agent", help="run the log agent with a config (podlog YAML or fluent.conf)")
    agent.add_argument("-c", "--config", required=True, help="config file")
    agent.add_argument("--log-level", default=None, help="debug, info, warning, error")

    check = sub.add_parser("check", help="validate a config without running it; with --input, show what it "
                           "would do with sample lines (dry run: no output is contacted)")
    check.add_argument("-c", "--config", required=True)
    check.add_argument("--input", metavar="FILE", help="sample log lines ('-': stdin) to run through the source's "
                       "parser, the filters and the routing")
    check.add_argument("--tag", help="with --input: the source with this tag (default: the first source); "
                       "no such source: the lines are plain messages with this tag")
    check.add_argument("--path", help="with --input: the file path the lines pretend to come from (tags with *, "
                       "kubernetes metadata); default: the sample's own path")
    check.add_argument("--json", action="store_true", help="with --input: one JSON object per line")

    stream = sub.add_parser("stream", help="re-stream files to stdout across rotation (streaming sidecar)")
    stream.add_argument("files", nargs="+", metavar="FILE")
    stream.add_argument("--from-head", action="store_true", help="start at the beginning (like tail -n+1)")
    stream.add_argument("--prefix", action="store_true", help="prefix each line with [FILE]")
    stream.add_argument("--poll", type=float, default=0.5, help="seconds between checks without inotify events")

    status = sub.add_parser("status", help="print sources, outputs, lag, buffer use and the loss ledger "
                            "of a running agent")
    status.add_argument("--url", default="http://127.0.0.1:9880", help="the agent's http_listen address")

    up = sub.add_parser("up", help="collect, store and search in one command: agent + store + web UI on "
                        "loopback (no arguments: a demo workload)")
    up.add_argument("-c", "--config", help="run this config's sources (its outputs become the store unless it "
                    "has a store output)")
    up.add_argument("--path", action="append", default=[], metavar="GLOB", help="collect these files (repeatable)")
    up.add_argument("--data", default="podlog-data", help="directory for the store, positions and the demo")
    up.add_argument("--listen", default="127.0.0.1:8080", help="host:port of the UI and API")
    up.add_argument("--token", help="API token (required off loopback; generated if not given)")
    up.add_argument("--log-level", default="warning")

    serve = sub.add_parser("serve", help="the search API and UI over an existing store (a second process "
                           "reading while the agent writes)")
    serve.add_argument("--store", required=True, help="the store output's path")
    serve.add_argument("--listen", default="127.0.0.1:8080")
    serve.add_argument("--token", help="API token (required off loopback; generated if not given)")

    docs = sub.add_parser("docs", help="write the plugin reference (Markdown pages) from the option declarations")
    docs.add_argument("dir", nargs="?", metavar="DIR", help="where to write the pages (the project keeps them "
                      "in docs/reference)")
    docs.add_argument("--out", help="same as DIR")
    docs.add_argument("--check", action="store_true", help="fail if the files on disk differ")
    return p


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load(path: str) -> Any:
    from podlog.config.errors import ConfigError
    from podlog.config.loader import load_config
    from podlog.engine import Engine

    try:
        config = load_config(path)
        return Engine(config)
    except ConfigError as exc:
        print(f"podlog: {exc}", file=sys.stderr)
        return None


def _build(path: str) -> Pipeline | None:
    """What ``podlog check`` checks: the pipeline the agent would build, output runners made, nothing started."""
    from podlog.config.errors import ConfigError
    from podlog.config.loader import load_config
    from podlog.pipeline import Runners, build

    try:
        config = load_config(path)
        return build(config, Runners(config))
    except ConfigError as exc:
        print(f"podlog: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (`podlog check --input ... | head`): stop quietly, as cat and grep do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "stream":
        from podlog.stream import stream_files

        return stream_files(args.files, args.from_head, args.prefix, poll=args.poll)
    if args.command == "agent":
        _setup_logging(args.log_level or "info")
        engine = _load(args.config)
        if engine is None:
            return 2
        if args.log_level is None:
            logging.getLogger().setLevel(engine.config.agent.log_level.upper())
        from podlog.config.errors import ConfigError

        try:
            return engine.run()
        except ConfigError as exc:  # found only when starting, like a push input's port already taken
            print(f"podlog: {exc}", file=sys.stderr)
            return 2
    if args.command == "check":
        _setup_logging("warning")
        if args.input is None and (args.tag or args.path or args.json):
            print("podlog: check: --tag, --path and --json go with --input", file=sys.stderr)
            return 2
        if args.input is not None:
            from podlog.dryrun import check_lines

            return check_lines(args.config, args.input, args.tag, args.path, args.json)
        from podlog.config.notices import collect

        with collect() as notices:  # settings accepted without effect: warned about, each at its line
            pipeline = _build(args.config)
        for found in notices:
            print(f"podlog: warning: {found}", file=sys.stderr)
        if pipeline is None:
            return 2
        print(f"{args.config}: OK ({len(pipeline.sources)} sources, {len(pipeline.targets)} outputs)")
        return 0
    if args.command == "status":
        from podlog.telemetry.status_view import print_status

        return print_status(args.url)
    if args.command == "up":
        if args.config and args.path:
            print("podlog: up: -c and --path do not go together", file=sys.stderr)
            return 2
        _setup_logging(args.log_level)
        from podlog.up import up

        return up(args.config, args.path, args.data, args.listen, args.token)
    if args.command == "serve":
        _setup_logging("warning")
        from podlog.web.server import serve

        return serve(args.store, args.listen, args.token)
    if args.command == "docs":
        from podlog.config.docs import write_reference

        out = args.out or args.dir
        if not out:
            print("podlog docs: give the directory to write to, e.g. `podlog docs docs/reference`", file=sys.stderr)
            return 2
        return write_reference(out, check=args.check)
    return 2


if __name__ == "__main__":
    sys.exit(main())
