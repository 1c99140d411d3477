"""camlib.data.download: the socket timeout every download runs under."""

import math
import socket

import pytest

from camlib.data.download import network_timeout


def test_the_timeout_applies_inside_the_block_only():
    before = socket.getdefaulttimeout()
    with network_timeout(2.5):
        assert socket.getdefaulttimeout() == 2.5
    assert socket.getdefaulttimeout() == before


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, "5", True])
def test_a_timeout_that_is_no_positive_finite_number_is_named(seconds):
    with pytest.raises(ValueError, match="use a positive number of seconds, or None"):
        with network_timeout(seconds):
            pass
