"""The named good reports built on the two planar groups (TID 1410) most cases share:
document flags, codes, units, titles, participants and size vary; each docstring gives
the content-item paths the tests look at."""

from __future__ import annotations

import highdicom.sr as hsr
from pydicom import Dataset
from pydicom.sr.coding import Code

from tests.support.sr.codes import DCM, MM, OTHER_TITLE, SCT, UCUM
from tests.support.sr.documents import DocumentFlags, dataset, document
from tests.support.sr.identity import (
    CONTENT_DATE,
    INSTITUTION,
    PARTICIPANT_DEVICE_UID,
    PARTICIPANT_PERSON_NAME,
)
from tests.support.sr.templates import (
    drop_children,
    head,
    lung_site,
    measurement_report,
    num,
    planar_group,
    planar_groups,
    qual,
    small_group,
)


def planar_report(case: str = "planar") -> Dataset:
    """Comprehensive SR, two TID 1410 groups measured on CT_small (+0100 timezone).

    Group 1.6.1: .1/.2 tracking id/UID, .3 finding category, .4 finding, .5 method
    RECIST 1.1, .6 finding site Lung with .6.1 laterality Left, .7 NUM Length 21.4 mm
    (derivation Maximum, Observation DateTime), .8 NUM Area 310.2 mm2 with its own
    TID 4019, .9/.10 CODE evaluations Margins and Malignancy, .11 SCOORD POLYLINE with
    .11.1 its CT source, .12 TEXT evaluation Comment. Group 1.6.2: right lung, one
    NUM. Observation UIDs on both groups, their NUMs and evaluations.
    """
    root = measurement_report(planar_groups(case))
    return document(case, root, DocumentFlags(timezone=True))


def no_observation_uid_report() -> Dataset:
    """The planar report with no Observation UID (0040,A171) anywhere."""
    case = "no-observation-uid"
    return document(case, measurement_report(planar_groups(case)), observation_uids=False)


def qualifier_report() -> Dataset:
    """One planar group: 1.6.1.7 NUM Diameter with qualifier DCM 114000 "Not a number"
    and an empty Measured Value Sequence; 1.6.1.8 NUM Length 12.0 mm."""
    case = "qualifier"
    nan = num(SCT.Diameter, 0.0, MM, qualifier=DCM.NotANumber)
    head(nan).MeasuredValueSequence = []
    group = planar_group(case, 1, [nan, num(SCT.Length, 12.0, MM)], site=lung_site())
    return document(case, measurement_report([group]))


SRT_LUNG = Code("T-28000", "SRT", "Lung")
SRT_LEFT = Code("G-A101", "SRT", "Left")
PRIVATE_SCORE = Code("XYZ-0001", "99XYZ", "Private opacity score")
PRIVATE_VALUE = Code("XYZ-VAL-3", "99XYZ", "Opacity grade 3")
LONG_CODE = hsr.CodedConcept("XYZ-LONG-CODE-VALUE-000000042", "99XYZ", "Long-coded finding")
URN_CODE = hsr.CodedConcept("urn:example:xyz:pattern:ground-glass", "99XYZ", "Ground glass")


def srt_codes_report() -> Dataset:
    """Legacy and unusual codes in one planar group (1.6.1).

    1.6.1.6 finding site SRT T-28000 with .6.1 laterality SRT G-A101; CODE evaluations
    .8 private 99XYZ name and value, .9 a Long Code Value (0008,0119) value, .10 a URN
    Code Value (0008,0120) value.
    """
    case = "srt-codes"
    site = hsr.FindingSite(SRT_LUNG, laterality=SRT_LEFT)
    evaluations = [
        qual(PRIVATE_SCORE, PRIVATE_VALUE),
        qual(Code("XYZ-0002", "99XYZ", "Private finding class"), LONG_CODE),
        qual(Code("XYZ-0003", "99XYZ", "Private pattern"), URN_CODE),
    ]
    group = planar_group(case, 1, [num(SCT.Length, 17.0, MM)], evaluations=evaluations, site=site)
    return document(case, measurement_report([group]))


def finding_site_without_modifiers_report() -> Dataset:
    """Finding site Lung without laterality/modifier and no tracking id/UID (1.6.1)."""
    case = "site-without-modifiers"
    group = planar_group(case, 1, [num(SCT.Length, 11.0, MM)], site=lung_site(None))
    drop_children(head(group), {"112039", "112040"})
    return document(case, measurement_report([group]))


def tracking_without_finding_site_report() -> Dataset:
    """Tracking identifier + UID, no finding site (1.6.1)."""
    case = "tracking-without-site"
    group = planar_group(case, 1, [num(SCT.Length, 13.0, MM)])
    return document(case, measurement_report([group]))


def preliminary_report() -> Dataset:
    """Planar content with PreliminaryFlag PRELIMINARY."""
    case = "preliminary"
    flags = DocumentFlags(preliminary="PRELIMINARY")
    return document(case, measurement_report(planar_groups(case)), flags)


def partial_report() -> Dataset:
    """Planar content with CompletionFlag PARTIAL, VerificationFlag UNVERIFIED, no
    PreliminaryFlag."""
    case = "partial"
    flags = DocumentFlags(completion="PARTIAL", verification="UNVERIFIED", preliminary=None)
    return document(case, measurement_report(planar_groups(case)), flags)


def large_report(groups: int = 50) -> Dataset:
    """``groups`` planar groups (1.6.1 ... 1.6.N), each 2 NUMs, 1 CODE and 1 TEXT."""
    case = f"large-{groups}"
    content = [small_group(case, n, 2, 1) for n in range(1, groups + 1)]
    return document(case, measurement_report(content))


def _participants() -> tuple[Dataset, ...]:
    person = dataset(
        ParticipationType="ATTEST",
        ParticipationDateTime=CONTENT_DATE + "102000",
        ObserverType="PSN",
        PersonName=PARTICIPANT_PERSON_NAME,
        PersonIdentificationCodeSequence=[
            dataset(CodeValue="RAD-0042", CodingSchemeDesignator="99TESTHOSP", CodeMeaning="Roe")
        ],
        InstitutionName=INSTITUTION,
    )
    device = dataset(
        ParticipationType="SOURCE",
        ParticipationDateTime=CONTENT_DATE + "101000",
        ObserverType="DEV",
        DeviceUID=PARTICIPANT_DEVICE_UID,
        Manufacturer="AI Vendor Ltd",
        ManufacturerModelName="LM-2",
        DeviceSerialNumber="AI-0007",
        StationName="AIBOX01",
    )
    return (person, device)


def participant_report() -> Dataset:
    """Participant Sequence with a PSN (ATTEST) and a DEV (SOURCE, own Device UID).

    The tree holds person (1.2-1.4) and device (1.5-1.10) observer context; Imaging
    Measurements moves to 1.12.
    """
    case = "participant"
    root = measurement_report(planar_groups(case), with_device=True)
    return document(case, root, DocumentFlags(participants=_participants()))


def units_report() -> Dataset:
    """One planar group (1.6.1) whose NUMs carry the units producers really send:
    .7 Length 10.04 in dcmjs' "[arb'U]{cm}" (read as cm), .8 Attenuation 42 in "HU" (not
    UCUM), .9 a ratio in "1" (no units), .10 a velocity in "cm/s", .11 an area in "mm2"
    whose Code Meaning is the code itself."""
    case = "units"
    nums = [
        num(SCT.Length, 10.04, Code("[arb'U]{cm}", "UCUM", "arbitrary cm")),
        num(DCM.AttenuationCoefficient, 42.0, Code("HU", "UCUM", "HU")),
        num(DCM.DiastolicSystolicVelocityRatio, 0.35, UCUM.NoUnits),
        num(SCT.ArterialVelocity, 12.5, UCUM.CentimeterPerSecond),
        num(SCT.Area, 310.2, Code("mm2", "UCUM", "mm2")),
    ]
    group = planar_group(case, 1, nums, site=lung_site())
    return document(case, measurement_report([group]))


def no_template_id_report() -> Dataset:
    """TID 1500 recognisable by title DCM 126000 only: no root ContentTemplateSequence.
    A good case: readers must accept it."""
    case = "no-template-id"
    root = measurement_report(planar_groups(case))
    del root.ContentTemplateSequence
    return document(case, root)


def titled_report(title: Code, case: str, *, declared: bool = False) -> Dataset:
    """The planar groups under another document title; ``declared`` keeps the root's
    Content Template Sequence (TID 1500), else there is none."""
    root = measurement_report(planar_groups(case))
    if not declared:
        del root.ContentTemplateSequence
    root.ConceptNameCodeSequence = [hsr.CodedConcept.from_code(title)]
    return document(case, root)


def other_title_report(declared: bool = False) -> Dataset:
    """TID 1500 content titled LN 18748-4, outside CID 7021: recognised by its template
    (``declared``) or by its Imaging Measurements container; converts with a warning."""
    case = "other-title-declared" if declared else "other-title"
    return titled_report(OTHER_TITLE, case, declared=declared)
