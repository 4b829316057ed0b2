"""docs/dicom-conformance-statement.md stays true: its tables against the SCP's lists and
against what a real association with the SCP negotiates and answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom.uid import UID, JPEGBaseline8Bit
from pynetdicom import AE, PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]

from sr2fhir.config import AllowedCaller, DicomConfig
from sr2fhir.errors import SpoolError
from sr2fhir.scp import SR_STORAGE_CLASSES, TRANSFER_SYNTAXES, StorageScp, StoreHandler, status
from sr2fhir.spool import InstanceInfo
from tests.support.sr.benchmark import benchmark_report

DOC = Path(__file__).resolve().parents[2] / "docs" / "dicom-conformance-statement.md"


def table(caption: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table after the line starting `caption`."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(caption))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not set("".join(cells)) <= set("- "):
            rows.append(cells)
    return rows[1:]  # without the header


def documented_sop_classes() -> dict[str, str]:
    return {uid: name for name, uid, _scu, _scp in table("Table 3.2-1")}


def documented_transfer_syntaxes() -> dict[str, str]:
    return {uid: name for name, uid in table("Table 3.2-3")}


def test_the_sop_class_table_is_what_the_scp_supports() -> None:
    supported = [*SR_STORAGE_CLASSES, Verification]
    assert documented_sop_classes() == {str(uid): UID(uid).name for uid in supported}
    rows = table("Table 3.2-1")
    assert all((scu, scp) == ("No", "Yes") for *_, scu, scp in rows)
    contexts = {uid: name for name, uid, *_ in table("Table 3.2-2")}
    assert contexts == documented_sop_classes()


def test_the_transfer_syntax_table_is_what_the_scp_supports() -> None:
    expected = {str(uid): UID(uid).name for uid in TRANSFER_SYNTAXES}
    assert documented_transfer_syntaxes() == expected


def test_the_implementation_identity_is_the_toolkits() -> None:
    rows = dict(table("**Implementation identifying information.**"))
    assert rows["Implementation Class UID"] == PYNETDICOM_IMPLEMENTATION_UID
    assert rows["Implementation Version Name"] == PYNETDICOM_IMPLEMENTATION_VERSION


def test_the_status_table_lists_every_code_the_handler_returns() -> None:
    codes = {int(code, 16) for _status, _meaning, code, _ in table("Table 3.2-4")}
    assert codes == status.STORE_STATUSES


def test_the_defaults_in_the_configuration_table_are_the_configs() -> None:
    rows = {key: default for _setting, key, default in table("### 3.4 Configuration")}
    defaults = DicomConfig()
    assert rows["`dicom.ae_title`"] == defaults.ae_title
    assert rows["`dicom.port`"] == str(defaults.port)
    assert rows["`dicom.max_associations`"] == str(defaults.max_associations)
    assert rows["`dicom.max_pending_connections`"] == str(defaults.max_pending_connections)
    assert rows["`dicom.request_timeout`"] == str(defaults.request_timeout)
    assert rows["`dicom.max_request_size`"] == str(defaults.max_request_size)
    assert rows["`dicom.max_pdu_size`"] == str(defaults.max_pdu_size)
    assert rows["`dicom.max_dataset_bytes`"] == str(defaults.max_dataset_bytes)
    assert f"{defaults.max_pdu_size} bytes" in DOC.read_text()


# ---------------------------------------------------------------- a real association


class Receiver:
    """The spool's receive: accepts, or refuses like a full disk."""

    def __init__(self) -> None:
        self.full = False
        self.received: list[InstanceInfo] = []

    def __call__(self, data: bytes, info: InstanceInfo) -> int:
        if self.full:
            raise SpoolError("disk full")
        self.received.append(info)
        return len(self.received)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


def running_scp(receiver: Receiver, **settings: object) -> Iterator[StorageScp]:
    config = DicomConfig(host="127.0.0.1", port=0, **settings)  # type: ignore[arg-type]
    scp = StorageScp(config, receiver)
    scp.start()
    yield scp
    scp.stop(grace=1)


@pytest.fixture
def scp(receiver: Receiver) -> Iterator[StorageScp]:
    yield from running_scp(receiver)


def requestor(calling: str = "CONFORMANCE") -> AE:
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae


def test_an_association_accepts_exactly_the_documented_contexts(scp: StorageScp) -> None:
    ae = requestor()
    proposed = [  # one context per (abstract syntax, transfer syntax): 24 + 2 others
        build_context(sop_class, ts)
        for sop_class in documented_sop_classes()
        for ts in documented_transfer_syntaxes()
    ]
    proposed += [
        build_context(CTImageStorage),
        build_context(SR_STORAGE_CLASSES[2], JPEGBaseline8Bit),
    ]
    assoc = ae.associate("127.0.0.1", scp.port, contexts=proposed, ae_title="NOT-OUR-TITLE")
    assert assoc.is_established  # the called AE title is not checked, as documented
    try:
        accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        expected = {
            (a, t) for a in documented_sop_classes() for t in documented_transfer_syntaxes()
        }
        assert accepted == expected
        rejected = {cx.abstract_syntax: cx.result for cx in assoc.rejected_contexts}
        assert rejected == {CTImageStorage: 3, SR_STORAGE_CLASSES[2]: 4}
    finally:
        assoc.release()


def test_the_scps_order_of_transfer_syntaxes_decides_among_those_proposed(
    scp: StorageScp,
) -> None:
    """Table 3.2-3's order, whatever the sender's order."""
    order = list(documented_transfer_syntaxes())
    for proposal in ([order[3], order[1]], [order[2], order[3]], [order[3], order[0]]):
        context = build_context(SR_STORAGE_CLASSES[2], [JPEGBaseline8Bit, *proposal])
        assoc = requestor().associate("127.0.0.1", scp.port, contexts=[context])
        try:
            taken = [cx.transfer_syntax[0] for cx in assoc.accepted_contexts]
        finally:
            assoc.release()
        assert taken == [min(proposal, key=order.index)]


def test_c_store_answers_the_documented_statuses(scp: StorageScp, receiver: Receiver) -> None:
    """0000 and A700 over the wire (pynetdicom cannot be made to send a C-STORE without a
    SOP Instance UID: C000 is checked on the handler below)."""
    ae = requestor()
    ae.add_requested_context(SR_STORAGE_CLASSES[2])
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.port)
    try:
        report = benchmark_report(0)
        assert assoc.send_c_echo().Status == status.SUCCESS
        assert assoc.send_c_store(report).Status == status.SUCCESS
        receiver.full = True
        assert assoc.send_c_store(report).Status == status.OUT_OF_RESOURCES
    finally:
        assoc.release()
    assert len(receiver.received) == 1


def rejection(port: int, calling: str) -> tuple[int, int, int]:
    ae = requestor(calling)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port)
    assert assoc.is_rejected
    rj = assoc.acceptor.primitive
    return int(rj.result), int(rj.result_source), int(rj.diagnostic)


def documented_rejections() -> set[tuple[int, int, int]]:
    rows = table("Table 3.2-5")
    return {tuple(int(re.match(r"\d+", cell).group()) for cell in row[:3]) for row in rows}  # type: ignore[union-attr,misc]


def test_association_rejections_are_the_documented_ones(receiver: Receiver) -> None:
    seen = set()
    for scp in running_scp(receiver, allowed_callers=(AllowedCaller("PACS"),)):
        seen.add(rejection(scp.port, "STRANGER"))
    for scp in running_scp(receiver, max_associations=1):
        first = requestor()
        first.add_requested_context(Verification)
        holding = first.associate("127.0.0.1", scp.port)
        assert holding.is_established
        try:
            seen.add(rejection(scp.port, "SECOND"))
        finally:
            holding.release()
    assert seen == documented_rejections()


def test_a_c_store_without_sop_instance_uid_is_answered_c000(receiver: Receiver) -> None:
    request = SimpleNamespace(
        AffectedSOPClassUID=str(SR_STORAGE_CLASSES[2]), AffectedSOPInstanceUID=""
    )
    event = SimpleNamespace(
        assoc=SimpleNamespace(requestor=SimpleNamespace(ae_title="SENDER")), request=request
    )
    answer = StoreHandler(receiver)(event)
    assert answer.Status == status.CANNOT_UNDERSTAND
    assert answer.ErrorComment == "no Affected SOP Instance UID"
    assert receiver.received == []
