"""Interpreter settings for the long-running processes (gateway, workers, `convert`).

pydicom's value validation is a process-wide setting: the entry points choose it once with
configure_pydicom_reading(), so that importing sr2fhir changes nothing for its host.

Mapping one report allocates a few thousand dicts and lists, so CPython's cyclic garbage
collector ran a young collection every ~700 allocations and regularly walked every object
the imports left behind (pydicom's dictionaries alone are ~100,000). None of that finds
garbage here: the Bundles are trees, freed by reference counting. Moving the start-up objects
out of the collector's sight and collecting young objects 70x less often cut the mapping of
the benchmark report from 7.4 to 4.3 ms and sped up pynetdicom's C-STORE handling ~10%
(benchmarks/README.md). Memory stays flat (benchmarks/ingest.py --memory-run).
"""

from __future__ import annotations

import gc

import pydicom.config

YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Call once, after the imports: freeze what exists, collect young objects less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def configure_pydicom_reading() -> None:
    """pydicom reads SRs leniently and quietly: VR violations such as over-long UIDs pass (the
    IG's own example has one) and it warns of nothing, as its warnings may quote values (PHI)."""
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
