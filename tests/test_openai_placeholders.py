"""openai-python's ``NOT_GIVEN`` / ``omit`` placeholders mean "not passed" everywhere: in
``create()``, the clients' constructors and ``with_options``, and the providers' constructors
(code written for openai, and frameworks over it, pass them for every unset argument)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pybreaker
import pytest
from _support import USER

from deepseek_resilient import (
    AsyncClient,
    Client,
    ConfigurationError,
    DeepSeek,
    InvalidRequestError,
    LlamaCppServer,
    OpenAICompatible,
)
from deepseek_resilient._client.options import CreateParams
from deepseek_resilient.testing import (
    TESTING_API_KEY,
    FakeProvider,
    FaultServer,
    InstantClock,
    server_provider,
)

openai = pytest.importorskip("openai")

PLACEHOLDERS = [
    pytest.param(openai.NOT_GIVEN, id="NOT_GIVEN"),
    pytest.param(openai.Omit(), id="Omit()"),
    pytest.param(getattr(openai, "omit", openai.Omit()), id="omit"),
    pytest.param(openai._types.NotGiven(), id="_types.NotGiven()"),
]


def _every_create_param(placeholder: object) -> dict[str, Any]:
    return {name: placeholder for name in CreateParams.__annotations__}


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_create_takes_a_placeholder_for_every_parameter(
    llm_server: FaultServer, placeholder: object
) -> None:
    with Client([server_provider(llm_server)], clock=InstantClock()) as client:
        resp = client.chat.completions.create(
            messages=USER,
            stream=placeholder,
            **_every_create_param(placeholder),  # type: ignore[arg-type]
        )
    assert resp.choices[0].message.content  # not streamed: stream=placeholder is False
    (request,) = llm_server.requests
    assert request.body is not None
    # Nothing but what the provider always sends: every placeholder was left out.
    assert set(request.body) == {"messages", "model"}


@pytest.mark.anyio
async def test_async_create_with_placeholders_streams_when_asked(llm_server: FaultServer) -> None:
    async with AsyncClient([server_provider(llm_server)], clock=InstantClock()) as client:
        stream = await client.chat.completions.create(
            messages=USER,
            stream=True,
            temperature=openai.NOT_GIVEN,
            timeout=openai.NOT_GIVEN,
            tool_choice=openai.omit,
            extra_body=openai.NOT_GIVEN,
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text
    (request,) = llm_server.requests
    assert request.body is not None and "temperature" not in request.body


def test_a_placeholder_inside_extra_headers_leaves_that_header_out(
    llm_server: FaultServer,
) -> None:
    with Client([server_provider(llm_server)], clock=InstantClock()) as client:
        client.chat.completions.create(
            messages=USER,
            extra_headers={"X-Kept": "1", "X-Left-Out": openai.omit},
            extra_body={"kept": 1, "left_out": openai.NOT_GIVEN},
        )
    (request,) = llm_server.requests
    assert request.headers["x-kept"] == "1" and "x-left-out" not in request.headers
    assert request.body is not None
    assert request.body["kept"] == 1 and "left_out" not in request.body


def test_client_constructors_and_with_options_take_placeholders() -> None:
    ng = openai.NOT_GIVEN
    with Client([FakeProvider()], timeout=ng, retry=ng, cache=ng, coalesce=ng) as client:
        assert "timeout=60" in repr(client)  # the default
        same = client.with_options(timeout=ng, extra_headers=ng)
        assert "timeout=60" in repr(same)
        assert same.chat.completions.create(messages=USER, timeout=ng).choices
    client = Client(providers=openai.omit, timeout=ng)  # type: ignore[arg-type]
    client.close()


@pytest.mark.anyio
async def test_async_client_constructor_takes_placeholders() -> None:
    ng = openai.NOT_GIVEN
    async with AsyncClient([FakeProvider()], timeout=ng, breaker=ng, hooks=ng) as client:
        assert client.timeout == 60
        assert client.with_options(timeout=ng).timeout == 60
        assert (await client.chat.completions.create(messages=USER, timeout=ng)).choices


def test_provider_constructors_take_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    ng, omit = openai.NOT_GIVEN, openai.omit
    compat = OpenAICompatible(
        base_url="http://127.0.0.1:9/v1",
        model="m",
        api_key=ng,
        headers=omit,
        http_client=ng,
        read_timeout=ng,
        retry=omit,
    )
    assert compat.api_key is None and compat.read_timeout == 60.0 and compat.retry is None
    monkeypatch.delenv("DEEPSEEK_BASE_URL", raising=False)
    deepseek = DeepSeek(api_key=TESTING_API_KEY, base_url=ng, thinking=omit, http_client=ng)
    assert deepseek.base_url == "https://api.deepseek.com"
    assert LlamaCppServer(base_url=ng, model=omit).base_url == "http://127.0.0.1:8080/v1"


def test_a_placeholder_is_still_required_where_a_value_is() -> None:
    # "Not passed" for a required argument is the same error as leaving it out.
    with pytest.raises(TypeError):
        OpenAICompatible(base_url="http://127.0.0.1:9/v1", model=openai.NOT_GIVEN)
    with Client([FakeProvider()]) as client, pytest.raises(InvalidRequestError, match="messages"):
        client.chat.completions.create(messages=openai.NOT_GIVEN)


def test_a_lookalike_class_from_elsewhere_is_an_ordinary_value() -> None:
    class NotGiven:  # same name, not openai's: a wrong value, refused as such
        pass

    with Client([FakeProvider()]) as client, pytest.raises(InvalidRequestError, match="temp"):
        client.chat.completions.create(messages=USER, temperature=NotGiven())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timeout"):
        Client([FakeProvider()], timeout=NotGiven())  # type: ignore[arg-type]


def test_recognising_placeholders_never_imports_openai() -> None:
    code = (
        "import sys, deepseek_resilient as d; from deepseek_resilient.testing import FakeProvider; "
        "c = d.Client([FakeProvider()], timeout=5); "
        "c.chat.completions.create(messages=[{'role': 'user', 'content': 'hi'}], temperature=0); "
        "c.close(); print(json.dumps(sorted(m for m in sys.modules if m.startswith('openai'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", f"import json; {code}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# ----------------------------------------------------------------------------- class names


def test_a_foreign_keyword_names_client_not_async_client() -> None:
    with pytest.raises(TypeError) as info:
        Client([FakeProvider()], max_retries=2)  # type: ignore[call-arg]
    message = str(info.value)
    assert message.startswith("Client() got an unexpected keyword argument 'max_retries'")
    assert "AsyncClient" not in message and "retry=Retry(attempts=" in message


def test_a_subclass_is_named_as_called() -> None:
    class MyClient(Client):
        pass

    with pytest.raises(TypeError, match=r"^MyClient\(\) got an unexpected keyword argument 'x'$"):
        MyClient([FakeProvider()], x=1)  # type: ignore[call-arg]


def test_async_client_names_itself() -> None:
    with pytest.raises(TypeError, match=r"AsyncClient.*max_retries"):
        AsyncClient([FakeProvider()], max_retries=2)  # type: ignore[call-arg]


def test_warnings_still_point_at_the_callers_line() -> None:
    # The wrapper that reads the placeholders adds a frame: the warnings skip it.
    with pytest.warns(DeprecationWarning) as caught:
        AsyncClient([FakeProvider()], breaker_listeners=[pybreaker.CircuitBreakerListener()])
    assert caught[0].filename == __file__
