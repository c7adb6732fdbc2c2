"""The `txcat` console script: one sub-command per offline task.

Sub-commands live with the stage they belong to. A module listed in `COMMAND_MODULES` exposes
`register(subparsers)`, which adds its sub-commands and sets `handler` (a function taking the
parsed arguments and returning the exit code) on each. Adding a command group is one line here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from txcat import __version__, exits
from txcat.config import Config, ConfigError, load_config
from txcat.session import configure_logging

log = logging.getLogger("txcat")

#: Modules that contribute sub-commands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "txcat.lifecycle.commands",
    "txcat.monitor.commands",
    "txcat.plan",
    "txcat.serve.command",
    "txcat.reference",
    "txcat.feedback.commands",
    "txcat.retro.commands",
)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """--env, --conf-dir and repeated --set KEY=VALUE, as every job takes them."""
    parser.add_argument("--env", default="local", help="configuration overlay (conf/<env>.yaml)")
    parser.add_argument("--conf-dir", default=None, help="configuration folder (default: conf/)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration value",
    )


def config_from(args: argparse.Namespace) -> Config:
    return load_config(args.env, args.conf_dir, args.overrides)


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="txcat",
        description="txcat: offline tasks of the transaction categoriser",
        epilog=exits.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"txcat {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    configure_logging(args.log_level.upper())
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return exits.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
