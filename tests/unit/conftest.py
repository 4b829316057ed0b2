"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sr2fhir.daemon import Gateway


@pytest.fixture
def started() -> Iterator[Callable[[Gateway], Gateway]]:
    running: list[Gateway] = []

    def start(gateway: Gateway) -> Gateway:
        gateway.start()
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.stop()
