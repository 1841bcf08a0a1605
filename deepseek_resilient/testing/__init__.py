"""Test your own code against deepseek_resilient: a fault-injecting OpenAI-compatible server on
127.0.0.1, a scripted in-process provider, clocks that never really sleep and ready-made
clients in testing mode. Works with or without pytest (everything here is a plain object or a
context manager); the pytest fixtures live in ``deepseek_resilient.testing.plugin`` (loaded
automatically). See docs/testing.md."""

from ._auto import Agent
from ._clients import (
    TESTING_API_KEY,
    TESTING_RETRY,
    server_provider,
    testing_async_client,
    testing_client,
)
from ._clock import FakeClock, InstantClock
from ._fake import FakeProvider, Hang
from ._hostile import DeepJson, GzipBomb, HugeBody, HugeError, HugeEvent, LongStream
from ._redis import RedisServer, find_redis_server
from ._rules import Chaos, Echo, IgnorePrefix, Outage, RejectPrefill
from ._schema import instance_of
from ._server import FaultServer
from ._steps import (
    ContentFilter,
    ContextLengthExceeded,
    CutStream,
    MalformedEvent,
    NotJson,
    Ok,
    RecordedRequest,
    Reset,
    RoleOnly,
    Rule,
    Silent,
    SlowFirstToken,
    Stall,
    StallAfter,
    Status,
    Step,
    StreamError,
    ToolCall,
)

__all__ = [
    "TESTING_API_KEY",
    "TESTING_RETRY",
    "Agent",
    "Chaos",
    "ContentFilter",
    "ContextLengthExceeded",
    "CutStream",
    "DeepJson",
    "Echo",
    "FakeClock",
    "FakeProvider",
    "FaultServer",
    "GzipBomb",
    "Hang",
    "HugeBody",
    "HugeError",
    "HugeEvent",
    "IgnorePrefix",
    "InstantClock",
    "LongStream",
    "MalformedEvent",
    "NotJson",
    "Ok",
    "Outage",
    "RecordedRequest",
    "RedisServer",
    "RejectPrefill",
    "Reset",
    "RoleOnly",
    "Rule",
    "Silent",
    "SlowFirstToken",
    "Stall",
    "StallAfter",
    "Status",
    "Step",
    "StreamError",
    "ToolCall",
    "find_redis_server",
    "instance_of",
    "server_provider",
    "testing_async_client",
    "testing_client",
]
