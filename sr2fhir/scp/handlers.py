"""C-STORE, C-ECHO and association-request handlers.

The C-STORE handler never decodes, maps or touches the network: it checks that the request
names a valid SOP Instance UID and that the data set is that instance (reading only the
first elements, scp/identity.py), writes the received bytes (behind a file meta header) to
the spool and answers Success only once they are durable.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydicom.dataset import Dataset

from sr2fhir.config import AllowedCaller
from sr2fhir.errors import SpoolError, StoreRefused
from sr2fhir.events import SILENT, Emitter, EventValue, GatewayEvent
from sr2fhir.mapping.read import dataset_size
from sr2fhir.scp import status
from sr2fhir.scp.identity import UnreadableIdentity, read_identity
from sr2fhir.scp.part10 import part10_header
from sr2fhir.spool import InstanceInfo
from sr2fhir.uids import is_valid_uid

log = logging.getLogger(__name__)

Receive = Callable[[bytes, InstanceInfo], int]
"""Stores one Part-10 instance, returns its job id; raises SpoolError (0xA700) or
StoreRefused (its status)."""

ERROR_COMMENT_LENGTH = 64  # Error Comment (0000,0902) is LO


class StoreHandler:
    """EVT_C_STORE: check, spool the encoded dataset, then answer 0x0000 (or why not)."""

    def __init__(self, receive: Receive, events: Emitter = SILENT) -> None:
        self._receive = receive
        self._events = events  # INSTANCE_STORED once durable, INSTANCE_REFUSED for 0xA700

    def __call__(self, event: Any) -> int | Dataset:
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        request = event.request
        info = InstanceInfo(
            sop_class_uid=str(request.AffectedSOPClassUID or ""),
            sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
            calling_ae=calling_ae,
        )
        try:
            check_request(info)
            encoded = event.encoded_dataset(include_meta=False)
            syntax = event.context.transfer_syntax
            check_dataset(info, encoded, syntax)
            data = part10_header(info.sop_class_uid, info.sop_instance_uid, syntax, calling_ae)
            job_id = self._receive(data + encoded, info)
        except StoreRefused as exc:
            log.warning(
                "C-STORE refused (0x%04X): %s: sop_instance_uid=%s calling_ae=%s",
                exc.status,
                exc,
                shown_uid(info.sop_instance_uid),
                calling_ae,
            )
            return refusal(exc)
        except SpoolError as exc:
            log.error(
                "C-STORE refused (0xA700), spool cannot store: %s sop_instance_uid=%s "
                "calling_ae=%s",
                exc,
                info.sop_instance_uid,
                calling_ae,
            )
            self._emit(GatewayEvent.INSTANCE_REFUSED, info)
            return status.OUT_OF_RESOURCES
        log.info(
            "job %d received: sop_instance_uid=%s calling_ae=%s",
            job_id,
            info.sop_instance_uid,
            calling_ae,
        )
        self._emit(GatewayEvent.INSTANCE_STORED, info, job_id=job_id)
        return status.SUCCESS

    def _emit(self, kind: GatewayEvent, info: InstanceInfo, **job: EventValue) -> None:
        self._events.emit(
            kind,
            **job,
            sop_instance_uid=info.sop_instance_uid,
            sop_class_uid=info.sop_class_uid,
            calling_ae=info.calling_ae,
        )


def check_request(info: InstanceInfo) -> None:
    """The Affected SOP Instance and Class UIDs are present and valid UIDs (they name the
    job, the spool's file meta and the outbox file): else 0xC000."""
    if not info.sop_instance_uid:
        raise StoreRefused("no Affected SOP Instance UID", status.CANNOT_UNDERSTAND)
    if not is_valid_uid(info.sop_instance_uid):
        raise StoreRefused("Affected SOP Instance UID is not a valid UID", status.CANNOT_UNDERSTAND)
    if not is_valid_uid(info.sop_class_uid):
        raise StoreRefused("Affected SOP Class UID is not a valid UID", status.CANNOT_UNDERSTAND)


def check_dataset(info: InstanceInfo, encoded: bytes, transfer_syntax: str) -> None:
    """The data set is the instance the request names: its own SOP Instance UID and SOP
    Class UID are the Affected ones. Else one instance could overwrite another's output."""
    try:
        found = read_identity(encoded, transfer_syntax)
    except UnreadableIdentity as exc:
        raise StoreRefused(f"data set unreadable: {exc}", status.NO_INSTANCE_UID) from None
    if found.sop_instance_uid is None:
        raise StoreRefused("data set has no SOP Instance UID (0008,0018)", status.NO_INSTANCE_UID)
    if found.sop_instance_uid != info.sop_instance_uid:
        raise StoreRefused(
            "SOP Instance UID (0008,0018) is not the Affected one", status.INSTANCE_MISMATCH
        )
    if found.sop_class_uid != info.sop_class_uid:
        raise StoreRefused(
            "SOP Class UID (0008,0016) is not the Affected one", status.CLASS_MISMATCH
        )


def refusing_larger_than(max_bytes: int, receive: Receive) -> Receive:
    """`receive` behind dicom.max_dataset_bytes: a larger data set is refused (0xC012)
    before anything is written."""

    def receive_limited(data: bytes, info: InstanceInfo) -> int:
        size = dataset_size(data)
        if size > max_bytes:
            raise StoreRefused(
                f"data set of {size} bytes > dicom.max_dataset_bytes {max_bytes}",
                status.TOO_LARGE,
            )
        return receive(data, info)

    return receive_limited


def refusal(exc: StoreRefused) -> Dataset:
    """The C-STORE response's status and Error Comment (the reason, cut to 64 characters)."""
    answer = Dataset()
    answer.Status = exc.status
    answer.ErrorComment = str(exc)[:ERROR_COMMENT_LENGTH]
    return answer


def shown_uid(uid: str) -> str:
    """A UID for the log: as it is when valid, else quoted and cut (it came from the wire)."""
    return uid if is_valid_uid(uid) else repr(uid[:70])


def handle_echo(event: Any) -> int:
    """EVT_C_ECHO: Verification always succeeds while the SCP runs."""
    return status.SUCCESS


class CallerPolicy:
    """EVT_REQUESTED: reject callers outside the allow-list with A-ASSOCIATE-RJ (0x01/0x01/0x03)."""

    def __init__(self, allowed: Sequence[AllowedCaller]) -> None:
        self._allowed: dict[str, list[tuple[str, ...]]] = {}
        for caller in allowed:
            self._allowed.setdefault(caller.ae_title.strip(), []).append(caller.hosts)

    @property
    def enabled(self) -> bool:
        return bool(self._allowed)

    def accepts(self, calling_ae: str, address: str) -> bool:
        host_lists = self._allowed.get(calling_ae.strip())
        if host_lists is None:
            return False
        return any(not hosts or _address_matches(address, hosts) for hosts in host_lists)

    def __call__(self, event: Any) -> None:
        assoc = event.assoc
        calling_ae = str(assoc.requestor.primitive.calling_ae_title).strip()
        address = str(assoc.requestor.address)
        if self.accepts(calling_ae, address):
            return
        log.warning(
            "association from %s at %s rejected: calling AE not allowed", calling_ae, address
        )
        reject(
            assoc,
            status.REJECT_PERMANENT,
            status.SOURCE_SERVICE_USER,
            status.DIAG_CALLING_AE_NOT_RECOGNISED,
        )


def reject(assoc: Any, result: int, source: int, diagnostic: int) -> None:
    """Answer an A-ASSOCIATE-RQ with A-ASSOCIATE-RJ from an EVT_REQUESTED handler."""
    assoc.acse.send_reject(result, source, diagnostic)
    assoc.kill()  # as pynetdicom's own reject path: waits until the A-ASSOCIATE-RJ is out


def _address_matches(address: str, hosts: Sequence[str]) -> bool:
    """Hosts are IP addresses or networks ("10.1.2.0/24"), validated with the config."""
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(host, strict=False) for host in hosts)
