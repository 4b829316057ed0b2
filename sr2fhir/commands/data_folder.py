"""The spool a command that reads the queue looks at: it must be a gateway's.

Such commands (`queue ...`, `status`) never create one: run in the wrong folder, they would
otherwise open an empty queue there and leave `sr2fhir-data/` behind.
"""

from __future__ import annotations

import sys

from sr2fhir.config import Config
from sr2fhir.spool import missing_spool


def data_folder_problem(config: Config) -> str | None:
    """Why there is no gateway's spool where the configuration points (naming where
    spool.data_dir was set and how to point at the right one), or None when there is one."""
    why = missing_spool(config)
    if why is None:
        return None
    source = config.origin("spool.data_dir")
    return (
        f"{why} (spool.data_dir from {source}); point at the gateway's with --data-dir DIR "
        "or --config FILE"
    )


def require_data_folder(config: Config, command: str) -> bool:
    """True when the spool is there; else one line on stderr, False."""
    problem = data_folder_problem(config)
    if problem is not None:
        print(f"sr2fhir {command}: {problem}", file=sys.stderr)
    return problem is None
