"""What a live run is asked for: which clients, how many, where, and the safety switch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .client_command import ClientCommand

__all__ = ["LiveOptions"]


@dataclass(frozen=True)
class LiveOptions:
    """How to run: which clients, how many, where, and the safety switch."""

    clients: int
    #: None only for a run of no clients (server activities only).
    command: ClientCommand | None
    out_dir: Path
    allow_host_changes: bool = False
    host: str = "127.0.0.1"
    message_port: int = 0
    ping_port: int = 0
    #: Longest wait for every client to register before the workload starts (s).
    register_timeout: float = 180.0
    #: run_until=drained: the longest wait past duration (s), on top of drain_limit.
    drain_timeout: float = 300.0
    #: The broker for server activities; None with ``own_broker`` False: none allowed.
    amqp_url: str | None = None
    #: Start a private broker on loopback for the run (and stop it after).
    own_broker: bool = False
    #: The job queue (purged at the start: give the run a queue of its own).
    amqp_queue: str = "activitykit.live.jobs"
    #: Longest wait for the broker to accept a connection at the start (s).
    amqp_connect_timeout: float = 10.0
    #: A user's job-handler command (docs/job-handler-protocol.md); None: the kit's own.
    job_handler: str | None = None
