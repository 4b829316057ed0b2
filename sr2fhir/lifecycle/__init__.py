"""A report's life after its first delivery: revisions (Predecessor Documents Sequence) and
IHE IOCM rejection notes (docs/gateway.md, "A report's life"). The record itself lives in the
job store (spool.lifecycle); this package reads the DICOM side and builds the Bundles."""
