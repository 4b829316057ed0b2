"""The one pynetdicom internal the SCP relies on, kept here so that a change shows in one place.

An acceptor's association thread waits for the A-ASSOCIATE-RQ on its DUL's `to_user_queue`
for up to its ACSE timeout (pynetdicom 3.0 `Association.run_reactor`). When the gateway
drops a connection before the request is complete (too many pending connections, shutdown),
closing the socket ends the DUL thread but not this wait: the thread would stay until the
timeout. pynetdicom treats a None from that queue like a timeout (no A-ASSOCIATE-RQ: kill
the association, close the connection), and no public call wakes the wait; so a None is put
there. tests/unit/scp/test_scp_limits.py
(test_a_dropped_connection_ends_its_association_thread_at_once) fails if this stops working.
"""

from __future__ import annotations

from typing import Any


def end_request_wait(assoc: Any) -> None:
    """Wake `assoc`'s thread if it waits for an A-ASSOCIATE-RQ: it ends without one.
    Call it after closing the connection, so the DUL thread ends too."""
    assoc.dul.to_user_queue.put(None)
