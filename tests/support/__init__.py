"""What the test suites (and benchmarks/) share: the SR factory (``sr``), the gateway as a
process or in-process, real DICOM peers (dcmtk, Orthanc, a pynetdicom sender, raw sockets),
stand-in FHIR servers, certificates made in-process, and golden-file comparison.

Test modules import from here, never from each other.
"""
