"""DIMSE status codes the SCP answers with (PS3.4 B.2.3, PS3.7 C)."""

from __future__ import annotations

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # Refused: Out of Resources -- the sender retries later
# Error: Data Set does not match SOP Class -- its SOP Class UID is not the Affected one
CLASS_MISMATCH = 0xA900
# Error: Cannot understand (PS3.4 B.2.3 leaves C000-CFFF to the SCP; pynetdicom itself
# answers C001, C002 and C211 for its own faults, so ours are apart from those)
CANNOT_UNDERSTAND = 0xC000  # no usable (present and valid) Affected SOP Class/Instance UID
INSTANCE_MISMATCH = 0xC010  # the data set's SOP Instance UID is not the Affected one
NO_INSTANCE_UID = 0xC011  # the data set has no readable SOP Instance UID
TOO_LARGE = 0xC012  # the data set is larger than dicom.max_dataset_bytes

STORE_STATUSES = frozenset(
    {
        SUCCESS,
        OUT_OF_RESOURCES,
        CLASS_MISMATCH,
        CANNOT_UNDERSTAND,
        INSTANCE_MISMATCH,
        NO_INSTANCE_UID,
        TOO_LARGE,
    }
)

# A-ASSOCIATE-RJ (PS3.8 9.3.4): rejected-permanent, service-user, calling AE not recognised
REJECT_PERMANENT = 0x01
SOURCE_SERVICE_USER = 0x01
DIAG_CALLING_AE_NOT_RECOGNISED = 0x03
DIAG_CALLED_AE_NOT_RECOGNISED = 0x07

# A-ASSOCIATE-RJ: rejected-transient, service-provider (presentation related), and why
REJECT_TRANSIENT = 0x02
SOURCE_PROVIDER_PRESENTATION = 0x03
DIAG_TEMPORARY_CONGESTION = 0x01  # the SCP is stopping
DIAG_LOCAL_LIMIT_EXCEEDED = 0x02  # dicom.max_associations associations in progress
