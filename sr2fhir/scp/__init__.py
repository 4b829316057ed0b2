"""The DICOM side: AE set-up, C-STORE / C-ECHO handlers, status codes, connection limits."""

from sr2fhir.scp.handlers import CallerPolicy, StoreHandler
from sr2fhir.scp.server import SR_STORAGE_CLASSES, TRANSFER_SYNTAXES, StorageScp, build_ae

__all__ = [
    "SR_STORAGE_CLASSES",
    "TRANSFER_SYNTAXES",
    "CallerPolicy",
    "StorageScp",
    "StoreHandler",
    "build_ae",
]
