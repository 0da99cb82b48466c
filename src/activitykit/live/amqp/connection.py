"""Connecting to the broker: what a lost connection raises, and a bounded retry."""

from __future__ import annotations

import time

import pika
import pika.exceptions

__all__ = ["CONNECTION_ERRORS", "connect"]

#: What pika raises when the broker or the network went away: the answer is to reconnect.
CONNECTION_ERRORS = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
    pika.exceptions.StreamLostError,
    ConnectionError,
)


def connect(url: str, deadline: float) -> pika.BlockingConnection:
    """A blocking connection to ``url``, tried every 0.2 s until ``deadline`` (monotonic)."""
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5.0
    while True:
        try:
            return pika.BlockingConnection(params)
        except CONNECTION_ERRORS:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
