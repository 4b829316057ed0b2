"""The command-line flags that set config keys, and the config of a parsed command line."""

from __future__ import annotations

import argparse

from sr2fhir.config.loading import load_config, load_with_problems
from sr2fhir.config.schema import Config, LogFormat, LogLevel
from sr2fhir.errors import ConfigProblem

FLAG_KEYS = {  # argparse dest -> the key it sets
    "data_dir": "spool.data_dir",
    "port": "dicom.port",
    "ae_title": "dicom.ae_title",
    "outbox": "delivery.outbox_dir",
    "workers": "workers.count",
    "log_level": "logging.level",
    "log_format": "logging.format",
}


def add_config_flags(
    parser: argparse.ArgumentParser, *, serve: bool = False, inherited: bool = False
) -> None:
    """--config and --data-dir for every command; the serve flags with `serve=True`.

    `inherited=True` for the sub-commands of a command that has them already (`queue list`):
    the flags then work before and after the sub-command, and one given before is kept."""
    default = argparse.SUPPRESS if inherited else None
    parser.add_argument("--config", metavar="FILE", default=default, help="YAML configuration file")
    parser.add_argument(
        "--data-dir", metavar="DIR", default=default, help="spool, job database, outbox folder"
    )
    if serve:
        parser.add_argument("--port", type=int, help="DICOM port to listen on (0 = any free)")
        parser.add_argument("--ae-title", help="our AE title")
        parser.add_argument("--outbox", metavar="DIR", help="folder for delivered Bundles")
        parser.add_argument("--workers", type=int, metavar="N", help="number of workers")
        parser.add_argument("--log-level", choices=[m.value for m in LogLevel], help="log level")
        parser.add_argument(
            "--log-format",
            choices=[m.value for m in LogFormat],
            help="text, or one JSON object per line",
        )


def config_from_args(args: argparse.Namespace) -> Config:
    """Defaults < --config FILE < SR2FHIR_* environment < flags."""
    return load_config(args.config, overrides=_overrides(args))


def config_and_problems_from_args(args: argparse.Namespace) -> tuple[Config, list[ConfigProblem]]:
    """As config_from_args, the problems beside the config (see load_with_problems)."""
    return load_with_problems(args.config, overrides=_overrides(args))


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {key: getattr(args, flag, None) for flag, key in FLAG_KEYS.items()}
