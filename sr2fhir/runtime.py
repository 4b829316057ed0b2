"""Interpreter settings for the long-running processes (gateway, workers, `convert`).

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

YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Call once, after the imports: freeze what exists, collect young objects less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)
