"""sr2fhir: a DICOM Storage SCP that maps TID 1500 Measurement Reports to FHIR."""

__version__ = "0.1.0"
