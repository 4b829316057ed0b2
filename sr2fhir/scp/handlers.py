"""C-STORE, C-ECHO and association-request handlers.

The C-STORE handler never decodes, maps or touches the network: it writes the received bytes
(behind a file meta header) to the spool and answers Success only once they are durable.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sr2fhir.config import AllowedCaller
from sr2fhir.errors import SpoolError
from sr2fhir.scp import status
from sr2fhir.scp.part10 import part10_header
from sr2fhir.spool import InstanceInfo

log = logging.getLogger(__name__)

Receive = Callable[[bytes, InstanceInfo], int]


class StoreHandler:
    """EVT_C_STORE: spool the encoded dataset, then answer 0x0000 (or 0xA700 if it cannot)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive

    def __call__(self, event: Any) -> int:
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        request = event.request
        info = InstanceInfo(
            sop_class_uid=str(request.AffectedSOPClassUID),
            sop_instance_uid=str(request.AffectedSOPInstanceUID),
            calling_ae=calling_ae,
        )
        if not info.sop_instance_uid:
            log.warning("C-STORE without an Affected SOP Instance UID from %s refused", calling_ae)
            return status.CANNOT_UNDERSTAND
        header = part10_header(
            info.sop_class_uid, info.sop_instance_uid, event.context.transfer_syntax, calling_ae
        )
        data = header + event.encoded_dataset(include_meta=False)
        try:
            job_id = self._receive(data, info)
        except SpoolError as exc:
            log.error(
                "C-STORE refused (0xA700), spool cannot store: %s sop_instance_uid=%s "
                "calling_ae=%s",
                exc,
                info.sop_instance_uid,
                calling_ae,
            )
            return status.OUT_OF_RESOURCES
        log.info(
            "job %d received: sop_instance_uid=%s calling_ae=%s",
            job_id,
            info.sop_instance_uid,
            calling_ae,
        )
        return status.SUCCESS


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
