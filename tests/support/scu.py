"""pynetdicom as the sender: an SCU proposing every SR storage class, C-STORE of files over
one association (in the foreground or a thread), a Part-10 file sent as it is, TLS."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydicom
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from tests.support.pki import Pki, TlsIdentity
from tests.support.processes import LOOPBACK, wait_until


def sr_sender_ae(calling: str = "PYSCU") -> Any:
    """A pynetdicom SCU proposing every SR storage class (and Verification)."""
    from pynetdicom import AE

    from sr2fhir.scp import SR_STORAGE_CLASSES, TRANSFER_SYNTAXES

    ae = AE(ae_title=calling)
    for sop_class in SR_STORAGE_CLASSES:
        ae.add_requested_context(sop_class, list(TRANSFER_SYNTAXES))
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    return ae


def send_files(port: int, files: Sequence[Path], acknowledged: list[str]) -> None:
    """C-STORE each file over one association; append each UID answered 0x0000 to
    `acknowledged`. Stops quietly when the peer goes away (that is what the caller tests)."""
    assoc = sr_sender_ae().associate(LOOPBACK, port, ae_title="SR2FHIR")
    if not assoc.is_established:
        return
    try:
        for path in files:
            ds = pydicom.dcmread(path)
            status = assoc.send_c_store(ds)
            if not assoc.is_established or "Status" not in status:
                return
            if status.Status == 0x0000:
                acknowledged.append(str(ds.SOPInstanceUID))
    finally:
        if assoc.is_established:
            assoc.release()


def sending_in_background(
    port: int, files: Sequence[Path], acknowledged: list[str], wait_for: int
) -> threading.Thread:
    """`send_files` in a thread; returns once `wait_for` instances are acknowledged."""
    sender = threading.Thread(target=send_files, args=(port, files, acknowledged))
    sender.start()
    wait_until(lambda: len(acknowledged) >= wait_for, 60, f"{wait_for} acknowledgements")
    return sender


@contextmanager
def chunked_sending() -> Iterator[None]:
    """pynetdicom sends a Part-10 file's data set bytes as they are, with the SOP Class and
    Instance UID of its file meta as the Affected ones (nothing re-encoded or checked)."""
    from pynetdicom import _config

    before = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        yield
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = before


def send_part10(port: int, path: Path, calling: str = "ATTACKER") -> Any:
    """C-STORE one Part-10 file as it is; the response (Status, ErrorComment) or None."""
    assoc = sr_sender_ae(calling).associate(LOOPBACK, port, ae_title="SR2FHIR")
    assert assoc.is_established, "association was not established"
    try:
        with chunked_sending():
            return assoc.send_c_store(path)
    finally:
        assoc.release()


def store_datasets(
    port: int, *datasets: Dataset, calling: str = "PYSCU", syntax: str | None = None
) -> list[int]:
    """C-STORE each dataset over one association proposing only their SOP classes (in
    `syntax`, else explicit and implicit VR little endian); the status of each (or -1: not
    sent)."""
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    syntaxes = [syntax] if syntax else [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
    for sop_class in {ds.SOPClassUID for ds in datasets}:
        ae.add_requested_context(sop_class, syntaxes)
    assoc = ae.associate(LOOPBACK, port, ae_title="SR2FHIR")
    assert assoc.is_established, "association was not established"
    try:
        return [int(assoc.send_c_store(ds).get("Status", -1)) for ds in datasets]
    finally:
        assoc.release()


def tls_client_context(pki: Pki, identity: TlsIdentity | None) -> ssl.SSLContext:
    """A pynetdicom SCU's ssl.SSLContext: trusts the test CA, presents `identity` (if any)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca))
    if identity is not None:
        context.load_cert_chain(str(identity.cert), str(identity.key))
    return context
