"""DIMSE status codes the SCP answers with (PS3.4 B.2.3, PS3.7 C)."""

from __future__ import annotations

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # Refused: Out of Resources -- the sender retries later
CANNOT_UNDERSTAND = 0xC000  # Error: Cannot understand -- no usable SOP Instance UID

# A-ASSOCIATE-RJ (PS3.8 9.3.4): rejected-permanent, service-user, calling AE not recognised
REJECT_PERMANENT = 0x01
SOURCE_SERVICE_USER = 0x01
DIAG_CALLING_AE_NOT_RECOGNISED = 0x03

# A-ASSOCIATE-RJ: rejected-transient, service-provider (presentation related), and why
REJECT_TRANSIENT = 0x02
SOURCE_PROVIDER_PRESENTATION = 0x03
DIAG_TEMPORARY_CONGESTION = 0x01  # the SCP is stopping
DIAG_LOCAL_LIMIT_EXCEEDED = 0x02  # dicom.max_associations associations in progress
