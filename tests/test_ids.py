"""Marked ids computed without Telethon agree with Telethon's own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telethon import utils
from telethon.tl import types

from dozor.ids import (
    LEGACY_CHANNEL_SHIFT,
    bare_channel_id,
    marked_channel_id,
    parse_desktop_peer_id,
)


@given(st.integers(min_value=1_000_000_000, max_value=9_999_999_999))
def test_marked_channel_id_matches_telethon(bare: int) -> None:
    expected = utils.get_peer_id(types.PeerChannel(bare))
    assert marked_channel_id(bare) == expected
    assert bare_channel_id(expected) == bare


def test_known_sample_ids() -> None:
    assert marked_channel_id(1292077344) == -1001292077344


@pytest.mark.parametrize(
    ("value", "legacy", "expected"),
    [
        ("channel1292077344", False, -1001292077344),
        ("user42", False, 42),
        ("chat7", False, -7),
        (9882011936, True, -1001292077344),  # 1292077344 + 2**33, as 2020 exports wrote it
        (4294967303, True, -7),  # basic group 7 + 2**32
        (42, True, 42),
        ("channel", False, None),
        ("nonsense", False, None),
        ("channel²", False, None),  # str.isdigit() says yes, int() says no
        (True, True, None),
        (-5, True, None),
        (None, False, None),
        ("channel99999999999999999999", False, None),  # no 64-bit column holds it
        ("user9223372036854775808", False, None),
        ("user9223372036854775807", False, 2**63 - 1),
    ],
)
def test_parse_desktop_peer_id(value: object, legacy: bool, expected: int | None) -> None:
    assert parse_desktop_peer_id(value, legacy=legacy) == expected


def test_legacy_shift_constant() -> None:
    assert 9882011936 - LEGACY_CHANNEL_SHIFT == 1292077344


def test_bare_channel_id_rejects_non_channels() -> None:
    with pytest.raises(ValueError, match="not a marked channel id"):
        bare_channel_id(42)
    with pytest.raises(ValueError, match="positive"):
        marked_channel_id(0)
