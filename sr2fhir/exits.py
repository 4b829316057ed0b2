"""The exit statuses of the `sr2fhir` command line, in one place."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1  # it ran, and something did not work: an input rejected, no such job, not ready
    USAGE = 2  # a usage or configuration error
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    BROKEN_PIPE = 141  # the reader of stdout went away (`| head`): 128 + SIGPIPE, as for cat
