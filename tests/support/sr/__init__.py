"""Deterministic factory of DICOM SR (TID 1500 Measurement Report) test inputs.

Every builder returns a fresh pydicom ``Dataset`` with ``file_meta`` (ready for
``ds.save_as(path, enforce_file_format=True)``), or ``bytes`` for inputs that are not
(valid) datasets. Same call, same bytes: UIDs derive from a SHA-256 of the case name and
the item's role (``identity.make_uid``), dates and times are fixed, and nothing highdicom
would fill with ``generate_uid()`` or ``now()`` is left to it.

highdicom builds the TID 1500 skeleton, the TID 1410/1411/1501 groups and their parts
(``templates``); what it lacks is added as plain content items: Observation UID/DateTime,
TEXT evaluations, the Derived Imaging Measurements (DCM 126011) and Qualitative Evaluations
(UMLS C0034375) containers, Region In Space (DCM 130488), Illustration of ROI (DCM 121200),
Visual explanation (DCM 130401), source series next to source images, NUMs without a value,
the Participant Sequence and the document modules themselves (``documents``).

The named reports live in ``reports``, ``volumetric`` and ``containers``; refused inputs in
``bad_inputs``; attacks in ``hostile``; benchmark reports in ``benchmark``; other producers'
files in ``corpus``; the lists of named cases in ``catalogue``. ``python -m tests.support.sr``
writes them (see ``__main__``).
"""
