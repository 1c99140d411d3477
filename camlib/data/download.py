"""Timeouts for downloads that go through libraries which take none of their own.

``torch.hub.download_url_to_file`` and torchvision's data set downloads call ``urlopen``
without a timeout: on a network that accepts a connection and never answers they wait
forever. Every network call in camlib runs inside ``network_timeout`` instead, so a silent
server costs at most ``seconds`` per read and then fails with ``TimeoutError`` (an ``OSError``).
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Real

DEFAULT_TIMEOUT = 30.0  # seconds a connection may stay silent before a download counts as failed


@contextmanager
def network_timeout(seconds: float | None = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Give every socket opened inside the block a timeout of ``seconds`` (``None``: wait forever)."""
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, Real)
                                or not 0 < seconds < math.inf):
        raise ValueError(f"timeout={seconds!r}: use a positive number of seconds, or None to wait forever")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
