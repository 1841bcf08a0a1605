"""Test your own code against deepseek_resilient: a fault-injecting OpenAI-compatible server on
127.0.0.1, a scripted in-process provider and a fake clock. Works with or without pytest; the
pytest fixtures live in ``deepseek_resilient.testing.plugin`` (loaded automatically)."""

from ._clock import FakeClock
from ._fake import FakeProvider, Hang
from ._server import (
    CutStream,
    FaultServer,
    NotJson,
    Ok,
    RecordedRequest,
    Reset,
    Stall,
    Status,
    Step,
    StreamError,
)

__all__ = [
    "CutStream",
    "FakeClock",
    "FakeProvider",
    "FaultServer",
    "Hang",
    "NotJson",
    "Ok",
    "RecordedRequest",
    "Reset",
    "Stall",
    "Status",
    "Step",
    "StreamError",
]
