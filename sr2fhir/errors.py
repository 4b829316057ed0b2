"""The exception tree of sr2fhir (see DESIGN.md). Messages never carry PHI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class Sr2FhirError(Exception):
    """Base of every error sr2fhir raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One wrong key: which (`section.key`, "" for the file as a whole), where its value came
    from (the file, `environment variable X`, `command line`, `<defaults>`; "" when several
    keys disagree), and the line shown, which names the key."""

    key: str
    source: str
    text: str


class ConfigError(Sr2FhirError):
    """A configuration file, key or value is wrong; the CLI exits with status 2.

    Holds every problem found (`problems`); the message is the one line of a single problem,
    or a count followed by one line per problem.
    """

    def __init__(self, message: str, key: str = "", source: str = "") -> None:
        self.problems: tuple[ConfigProblem, ...] = (ConfigProblem(key, source, message),)
        super().__init__(message)

    @classmethod
    def of(cls, problems: Sequence[ConfigProblem]) -> ConfigError:
        """One error listing `problems` (at least one)."""
        if len(problems) == 1:
            only = problems[0]
            return cls(only.text, only.key, only.source)
        lines = "".join(f"\n  {problem.text}" for problem in problems)
        error = cls(f"{len(problems)} problems in the configuration:{lines}")
        error.problems = tuple(problems)
        return error


class SpoolError(Sr2FhirError):
    """The spool could not durably store an instance (C-STORE answers 0xA700)."""


class DiskFullError(SpoolError):
    """No room left where the gateway writes (the data folder is full or below
    spool.min_free_bytes, or the outbox is full): C-STOREs are answered 0xA700, workers pause,
    and both resume by themselves once there is space again."""


class LeaseLostError(SpoolError):
    """The worker no longer holds the job it is working on: its lease ran out (its node
    stopped renewing it) and the job went back to the queue, perhaps to another node. The
    worker drops the job; the update it tried did not happen (fencing)."""


class StoreRefused(Sr2FhirError):
    """The SCP will not store this instance: the C-STORE answers `status` (never Success),
    with the message as its Error Comment; nothing is kept."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SrParseError(Sr2FhirError):
    """Input is not DICOM, not an SR, not TID 1500, or its content tree is malformed."""

    def __init__(self, message: str, item_path: str | None = None) -> None:
        super().__init__(message)
        self.item_path = item_path


class MappingError(Sr2FhirError):
    """A TID 1500 report could not be mapped to FHIR (e.g. a required attribute is empty)."""

    def __init__(self, message: str, item_path: str | None = None) -> None:
        super().__init__(message)
        self.item_path = item_path


class DeliveryError(Sr2FhirError):
    """A Bundle could not be delivered to its sink."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (network error, 408, 429, 5xx); the HTTP status and the
    server's OperationOutcome when it answered with one (the job's attempt history)."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        status: int | None = None,
        outcome: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.outcome = outcome


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (4xx, an answer that makes no sense); the OperationOutcome, or
    else the start of the server's answer, is kept with the job."""

    def __init__(
        self,
        message: str,
        outcome: dict[str, object] | None = None,
        status: int | None = None,
        answer: str | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.answer = answer
