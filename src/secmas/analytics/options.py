"""The analytics choices a user names on the command line, without the modules that act on
them (numpy, the detector registry): `secmas --help` and every argument check load this
alone (`secmas.cli.main`)."""

from __future__ import annotations

from typing import Literal, get_args

TimeOrder = Literal["refuse", "sort", "drop-duplicates"]
TIME_ORDERS: tuple[TimeOrder, ...] = get_args(TimeOrder)
"""What reading a recording does with rows out of time order (`secmas.analytics.csvdata`);
`refuse` by default."""
DEFAULT_DETECTOR = "auto"
"""What `detect fit` fits unless told otherwise: `choose_detector`, which keeps the
benchmark's first, the z-score, unless normal data shows it would fail
(`secmas.analytics.selection`)."""
