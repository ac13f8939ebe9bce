"""CTI-driven selective sharing (deliverable 004, Section 4.1).

Scanner reports per domain (`reports`) → a risk score per vulnerability (`risk`) → per
key-value pair, include or anonymise from the sensitivity and necessity maps (`maps`,
`sharing`, `anonymise`) → a STIX 2.1 bundle (`stix`) → hygiene per domain and the PoPs
excluded from sensitive goals (`hygiene`). `share.share` does it all from files;
`placement.HygieneFilter` applies it in a run (those PoPs refuse sensitive goals' calls).
"""

from secmas.cti.errors import CTIInputError, Problem
from secmas.cti.hygiene import domain_hygiene, exclusions, host_exposure, hygiene_scores
from secmas.cti.maps import FieldMap, load_field_map, parse_field_map
from secmas.cti.reports import (
    FIELDS,
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
    SharedReport,
    SharingRule,
)
from secmas.cti.stix import build_bundle, parse_bundle, read_bundle

__all__ = [
    "DECISION_COLUMNS",
    "FIELDS",
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
    "SharedReport",
    "SharingRule",
    "age_factor",
    "build_bundle",
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
