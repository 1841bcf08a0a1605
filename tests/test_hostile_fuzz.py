"""Fuzzing the public API (issue 12): ``create()`` arguments and constructor configs drawn
from JSON and non-JSON values. Every failure is one of our typed errors (or a ``TypeError`` for
a wrong call signature), rejected input never reaches the server, and breakers stay closed."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepseek_resilient import (
    AsyncClient,
    Cache,
    CircuitBreaker,
    Client,
    ConfigurationError,
    DeepSeekResilientError,
    InvalidRequestError,
    OpenAICompatible,
    RateLimit,
    Retry,
    RetryBudget,
)
from deepseek_resilient.testing import FakeProvider, FaultServer, InstantClock, Ok

_text = st.text(st.characters(codec=None, categories=["L", "N", "P", "Zs", "Cc", "Cs"]), max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
    | st.binary(max_size=4)
    | st.frozensets(st.integers(0, 3), max_size=2)
    | st.builds(object)
    | st.just(math.nan)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(_text | st.integers(0, 3), inner, max_size=3)
    ),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


_deep = st.integers(20, 60).map(_nested)
_content = (
    _text
    | _values
    | _deep
    | st.lists(
        st.fixed_dictionaries({"type": st.just("text"), "text": _text | _values}), max_size=2
    )
)
_message = (
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "assistant", "tool", "robot"]),
            "content": _content,
        }
    )
    | _values
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-9, 9) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_good_message = st.fixed_dictionaries(
    {"role": st.just("user"), "content": st.text(min_size=1, max_size=10)}
)
_messages = (
    st.lists(_message, min_size=0, max_size=3)
    | _values
    | st.lists(_good_message, min_size=1, max_size=2)
    | st.lists(_good_message, min_size=1, max_size=1).map(
        lambda ms: [*ms, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    )
)
_PARAMS = ["model", "temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice",
           "response_format", "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs",
           "user", "stream_options", "extra_body", "timeout", "cache", "coalesce", "priority",
           "unknown_param"]  # fmt: skip
_params = st.dictionaries(st.sampled_from(_PARAMS), _values | _deep, max_size=4) | st.dictionaries(
    st.sampled_from(["extra_body", "tools", "response_format", "stream_options"]),
    st.dictionaries(st.text(max_size=4), _json, max_size=2),
    max_size=2,
).map(lambda p: {**p, "temperature": 0})


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_fuzzed_create_arguments_fail_typed_and_never_reach_the_server(
    llm_server: FaultServer, tmp_path: Path
) -> None:
    llm_server.default = Ok("fine")
    providers = [
        OpenAICompatible(name=n, base_url=llm_server.base_url, model="m", api_key="sk-fuzz-key")
        for n in ("a", "b")
    ]
    breaker = CircuitBreaker(window=5, min_calls=2, failure_rate=0.5, open_for=3600)
    seen = {"ok": 0, "invalid": 0}
    with Client(
        providers,
        breaker=breaker,
        cache=Cache(directory=tmp_path),
        clock=InstantClock(),
        timeout=30,
    ) as client:

        @settings(
            max_examples=250,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(messages=_messages, stream=st.booleans() | _values, params=_params)
        def run(messages: Any, stream: Any, params: dict[str, Any]) -> None:
            before = llm_server.calls
            try:
                answer: Any = client.chat.completions.create(
                    messages=messages, stream=stream, **params
                )
            except InvalidRequestError:
                seen["invalid"] += 1
                assert llm_server.calls == before  # rejected input never leaves the process
                return
            except DeepSeekResilientError:
                return  # typed (e.g. a fuzzed timeout of 1e-300 s: DeadlineExceeded)
            if hasattr(answer, "close"):
                with answer:
                    for _ in answer:
                        pass
            seen["ok"] += 1

        run()
        states = {name: h.state for name, h in client.health().items()}
    assert states == {"a": "closed", "b": "closed"}
    print(seen)
    assert seen["invalid"] > 0 and seen["ok"] > 0


_CONFIGS: dict[type, list[str]] = {
    Retry: ["attempts", "base", "cap", "max_retry_after"],
    CircuitBreaker: ["window", "min_calls", "failure_rate", "slow_call", "open_for",
                     "max_open_for", "auth_open_for", "probe_timeout"],
    RateLimit: ["requests_per_second", "requests_per_minute", "tokens_per_minute", "burst",
                "max_concurrency", "decrease_factor", "increase_step", "min_factor",
                "low_priority_headroom", "max_pause"],
    Cache: ["ttl", "stale_if_error", "directory", "size_limit", "lock_timeout"],
    RetryBudget: ["ratio", "min_per_second", "window"],
}  # fmt: skip
_number = st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
_config_value = _number | _scalars | st.lists(_scalars, max_size=2)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(_CONFIGS, key=lambda k: k.__name__)),
    data=st.data(),
)
def test_fuzzed_policy_configs_build_or_raise_configuration_error(
    kind: type, data: st.DataObject
) -> None:
    names = _CONFIGS[kind]
    kwargs = data.draw(st.dictionaries(st.sampled_from(names), _config_value, max_size=3))
    try:
        config = kind(**kwargs)
    except ConfigurationError:
        return
    for name in names:  # what was accepted is usable: finite numbers of the right type
        value = getattr(config, name)
        assert value is None or isinstance(value, (int, float, str, Path))
        if isinstance(value, (int, float)):
            assert math.isfinite(value) and not isinstance(value, bool)


_PROVIDER_OPTIONS = ["name", "base_url", "model", "api_key", "headers", "read_timeout",
                     "connect_timeout", "attempt_timeout", "first_token_timeout", "retry",
                     "breaker", "rate_limit", "max_connections", "max_keepalive_connections",
                     "keepalive_expiry", "max_response_bytes", "max_event_bytes"]  # fmt: skip
_CLIENT_OPTIONS = ["timeout", "retry", "breaker", "rate_limit", "retry_budget", "cache",
                   "coalesce", "failover_reserve", "breaker_listeners", "clock"]  # fmt: skip
_option_value = (
    _config_value
    | st.sampled_from(["http://a b/v1", "http://h:99999", "http:///v1", "https://ok.example/v1"])
    | st.builds(Retry)
    | st.builds(CircuitBreaker)
    | st.builds(RateLimit)
    | st.just(True)
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzzed_provider_and_client_options_raise_configuration_error(
    data: st.DataObject,
) -> None:
    options = data.draw(st.dictionaries(st.sampled_from(_PROVIDER_OPTIONS), _option_value))
    base = {"name": "p", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    try:
        OpenAICompatible(**{**base, **options})
    except ConfigurationError as exc:
        assert "sk-" not in str(exc)
    options = data.draw(st.dictionaries(st.sampled_from(_CLIENT_OPTIONS), _option_value))
    with contextlib.suppress(ConfigurationError):
        AsyncClient([FakeProvider("p")], **options)


def test_the_fuzz_is_not_vacuous() -> None:
    with pytest.raises(ConfigurationError):
        OpenAICompatible(name="p", base_url="http://a b/v1", model="m")
    with Client([FakeProvider("p")], clock=InstantClock()) as client:
        with pytest.raises(InvalidRequestError):
            client.chat.completions.create(
                messages=[{"role": "user", "content": "hi"}], tools=[{1}]
            )
