"""CTI-driven selective sharing (deliverable 004, Section 4.1).

Scanner reports per domain (`reports`) → a risk score per vulnerability (`risk`) → per
attribute of an entity (host, software, service, vulnerability), include or anonymise
from the sensitivity and necessity maps (`maps`, `sharing`, `anonymise`) → strict STIX
2.1 bundles (`stix`), published per domain to a TAXII 2.1 collection and polled by
subscribers (`taxii`) → hygiene per domain from what a subscriber received, and the PoPs
excluded from sensitive goals (`hygiene`). `share.share` does it from files;
`placement.HygieneFilter` applies it in a run (those PoPs refuse sensitive goals' calls).
"""

from secmas.cti.errors import CTIInputError, Problem
from secmas.cti.hygiene import domain_hygiene, exclusions, host_exposure, hygiene_scores
from secmas.cti.maps import FieldMap, load_field_map, parse_field_map
from secmas.cti.reports import (
    FIELDS,
    MAX_REPORT_BYTES,
    Finding,
    Host,
    ScanReport,
    load_report,
    parse_csv_report,
    parse_json_report,
)
from secmas.cti.risk import CvssScore, RiskParams, age_factor, parse_cvss, risk_score
from secmas.cti.share import ShareResult, share, share_reports
from secmas.cti.sharing import (
    DECISION_COLUMNS,
    FieldDecision,
    SharedFinding,
    SharedHost,
    SharedReport,
    SharingRule,
    decide,
)
from secmas.cti.stix import EXTENSION_ID, build_bundles, bundle_text, parse_bundle, read_bundle

__all__ = [
    "DECISION_COLUMNS",
    "EXTENSION_ID",
    "FIELDS",
    "MAX_REPORT_BYTES",
    "CTIInputError",
    "CvssScore",
    "FieldDecision",
    "FieldMap",
    "Finding",
    "Host",
    "Problem",
    "RiskParams",
    "ScanReport",
    "ShareResult",
    "SharedFinding",
    "SharedHost",
    "SharedReport",
    "SharingRule",
    "age_factor",
    "build_bundles",
    "bundle_text",
    "decide",
    "domain_hygiene",
    "exclusions",
    "host_exposure",
    "hygiene_scores",
    "load_field_map",
    "load_report",
    "parse_bundle",
    "parse_csv_report",
    "parse_cvss",
    "parse_field_map",
    "parse_json_report",
    "read_bundle",
    "risk_score",
    "share",
    "share_reports",
]
