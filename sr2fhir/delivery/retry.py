"""The retry rules of every delivery: which failures are worth another attempt, and when.

Network errors, 408, 429 and 5xx (TransientDeliveryError), other delivery and I/O errors,
and unexpected errors (a bug must not stop the queue; bounded by the attempts) are retried
after a capped exponential backoff with full jitter, never sooner than the server's
Retry-After; a PermanentDeliveryError (other 4xx, an answer that makes no sense) is final.
The gateway's workers schedule the next attempt in the spool; `convert --push` waits for
it in place (deliver_with_retries).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sr2fhir.config import WorkersConfig
from sr2fhir.delivery.sink import Receipt, Sink
from sr2fhir.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from sr2fhir.spool import InstanceInfo

log = logging.getLogger(__name__)

MAX_DOUBLINGS = 64  # 2.0 ** attempt would overflow after ~1000 attempts


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter (each wait between half its ceiling and the
    ceiling); give up after `attempts` attempts: `max_attempts`, or as many as it takes for
    the shortest waits the jitter can draw to add up to `window` seconds, whichever is fewer.

    The window is counted in attempts, not read from a clock, so that a job run again by
    `sr2fhir queue retry` (its attempts back to 0) gets a whole window again."""

    max_attempts: int | None = 8
    initial: float = 2.0
    cap: float = 300.0
    window: float | None = None

    @classmethod
    def from_config(cls, config: WorkersConfig, max_attempts: int | None = None) -> RetryPolicy:
        """The workers' policy; `max_attempts` given (convert --push): that many, no window."""
        if max_attempts is not None:
            return cls(max_attempts, config.backoff_initial, config.backoff_max)
        return cls(
            config.max_attempts, config.backoff_initial, config.backoff_max, config.retry_for
        )

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based)."""
        doublings = min(max(attempt - 1, 0), MAX_DOUBLINGS)  # past the cap long before
        return min(self.cap, self.initial * 2.0**doublings)

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        ceiling = self.ceiling(attempt)
        jittered = ceiling / 2 + rng() * ceiling / 2
        return max(jittered, retry_after or 0.0)

    @property
    def attempts(self) -> int:
        """How many attempts a job gets before it is FAILED (see the class)."""
        limits = [] if self.max_attempts is None else [self.max_attempts]
        if self.window is not None:
            limits.append(attempts_within(self, self.window))
        return min(limits, default=1)


def attempts_within(policy: RetryPolicy, window: float) -> int:
    """The attempts whose shortest waits in between add up to at least `window` seconds:
    the growing waits one by one, then as many capped ones as the rest needs."""
    attempts, waited = 1, 0.0
    while waited < window and policy.ceiling(attempts) < policy.cap:
        waited += policy.ceiling(attempts) / 2
        attempts += 1
    if waited < window:
        attempts += math.ceil((window - waited) / (policy.cap / 2))
    return attempts


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one delivery attempt failed, and whether another could succeed."""

    reason: str
    permanent: bool = False
    retry_after: float | None = None
    kept: str | None = None  # a refusal's OperationOutcome (JSON), else the start of the answer
    http_status: int | None = None  # the server's answer, when there was one
    outcome: str | None = None  # the server's OperationOutcome (JSON), when it sent one


def failure_of(exc: Exception) -> Failure:
    """The retry rule for what `Sink.deliver` raised."""
    if isinstance(exc, PermanentDeliveryError):
        outcome = json.dumps(exc.outcome) if exc.outcome else None
        kept = outcome or exc.answer
        return Failure(
            f"delivery refused: {exc}",
            permanent=True,
            kept=kept,
            http_status=exc.status,
            outcome=outcome,
        )
    if isinstance(exc, TransientDeliveryError):
        outcome = json.dumps(exc.outcome) if exc.outcome else None
        return Failure(str(exc), False, exc.retry_after, None, exc.status, outcome)
    if isinstance(exc, DeliveryError | OSError):
        return Failure(f"{type(exc).__name__}: {exc}")
    # A bug must not stop the queue: retried, bounded. The message may quote data: the
    # traceback only at DEBUG, never by default.
    log.debug("unexpected delivery error", exc_info=exc)
    return Failure(f"internal delivery error: {type(exc).__name__}")


class GaveUp(Exception):
    """deliver_with_retries: the last attempt's failure (permanent, or out of attempts)."""

    def __init__(self, failure: Failure, attempts: int) -> None:
        super().__init__(failure.reason)
        self.failure = failure
        self.attempts = attempts


def deliver_with_retries(
    sink: Sink,
    bundle: dict[str, Any],
    instance: InstanceInfo,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> Receipt:
    """Deliver, waiting between attempts as `policy` says; the receipt, or GaveUp."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return sink.deliver(bundle, instance)
        except Exception as exc:  # classified: see failure_of
            failure = failure_of(exc)
            if failure.permanent or attempt >= policy.attempts:
                raise GaveUp(failure, attempt) from exc
            sleep(policy.delay(attempt, failure.retry_after, rng))
