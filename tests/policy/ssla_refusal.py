"""The one way the SSLA tests read a refusal: the message of the SSLAError, on one line."""

from __future__ import annotations

import pytest

from secmas.policy.ssla import SSLAError, from_xml


def refused(text: str) -> str:
    """The message `from_xml` refuses `text` (named `s.xml`) with."""
    with pytest.raises(SSLAError) as info:
        from_xml(text, "s.xml")
    message = str(info.value)
    assert "\n" not in message
    return message
