"""The data folder a command that reads the queue looks at: it must be a gateway's.

Such commands (`queue ...`, `status`) never create one: run in the wrong folder, they would
otherwise open an empty queue there and leave `sr2fhir-data/` behind.
"""

from __future__ import annotations

import sys

from sr2fhir.config import Config

# The job database the embedded spool keeps in its data folder (sr2fhir/spool/spool.py).
JOB_DATABASE = "jobs.sqlite3"


def data_folder_problem(config: Config) -> str | None:
    """Why `spool.data_dir` is not a gateway's data folder (naming where it was set and how
    to point at the right one), or None when it is one."""
    path = config.spool.path
    source = config.origin("spool.data_dir")
    if not path.is_dir():
        why = f"no data folder at {path}"
    elif not (path / JOB_DATABASE).is_file():
        why = f"{path} is not a gateway's data folder (it holds no {JOB_DATABASE})"
    else:
        return None
    return (
        f"{why} (spool.data_dir from {source}); point at the gateway's with --data-dir DIR "
        "or --config FILE"
    )


def require_data_folder(config: Config, command: str) -> bool:
    """True when the data folder is there; else one line on stderr, False."""
    problem = data_folder_problem(config)
    if problem is not None:
        print(f"sr2fhir {command}: {problem}", file=sys.stderr)
    return problem is None
