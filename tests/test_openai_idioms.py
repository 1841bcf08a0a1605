"""openai-python's own idioms on the drop-in: it IS openai's client (over our transport), so
its types, helpers and exceptions all work. Each test runs against the real test server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel

from deepseek_resilient import (
    AsyncOpenAI,
    OpenAI,
    OpenAICompatible,
    ResilientTransport,
    route_of,
)
from deepseek_resilient.testing import (
    Agent,
    FaultServer,
    InstantClock,
    Ok,
    Silent,
    Status,
    ToolCall,
)

USER: list[Any] = [{"role": "user", "content": "Hi"}]


class Weather(BaseModel):
    city: str
    celsius: float


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=60, rule=Agent()) as s:
        yield s


@pytest.fixture
def client(server: FaultServer) -> Iterator[OpenAI]:
    with OpenAI(api_key="k", base_url=server.base_url, local=False, clock=InstantClock()) as c:
        yield c


def test_it_is_openais_client_with_openais_types(client: OpenAI) -> None:
    assert isinstance(client, openai.OpenAI)
    resp = client.chat.completions.create(model="m", messages=USER)
    assert isinstance(resp, ChatCompletion)
    assert resp.choices[0].message.content == "echo: Hi"
    assert resp.choices[0].message.refusal is None  # openai's model fields, all there
    for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
        assert isinstance(chunk, ChatCompletionChunk)


def test_with_raw_response_headers_and_parse(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="m", messages=USER)
    route = json.loads(raw.headers["x-deepseek-resilient-route"])
    assert route["provider"] == "openai"
    completion = raw.parse()
    assert isinstance(completion, ChatCompletion)
    assert route_of(raw) == route_of(completion)


def test_with_streaming_response(client: OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="m", messages=USER, stream=True
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    route = route_of(response)
    assert route is not None and route.provider == "openai"


def test_parse_with_a_pydantic_response_format(client: OpenAI, server: FaultServer) -> None:
    done = client.chat.completions.parse(model="m", messages=USER, response_format=Weather)
    assert done.choices[0].message.parsed == Weather(city="text", celsius=1.0)
    sent = server.requests[-1].body
    assert sent is not None and sent["response_format"]["type"] == "json_schema"
    beta = client.beta.chat.completions.parse(model="m", messages=USER, response_format=Weather)
    assert isinstance(beta.choices[0].message.parsed, Weather)


def test_the_stream_helper(client: OpenAI) -> None:
    with client.chat.completions.stream(model="m", messages=USER) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert "content.delta" in kinds
    assert final.choices[0].message.content == "echo: Hi"


def test_streamed_and_whole_tool_calls(client: OpenAI, server: FaultServer) -> None:
    call = ToolCall("weather", {"city": "Paris"})
    server.script(Ok("", tool_calls=(call,)), Ok("", tool_calls=(call,)))
    whole = client.chat.completions.create(model="m", messages=USER)
    (tool_call,) = whole.choices[0].message.tool_calls or []
    assert tool_call.type == "function"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}
    assert whole.choices[0].finish_reason == "tool_calls"
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    with client.chat.completions.stream(model="m", messages=USER, tools=tools) as stream:
        final = stream.get_final_completion()
    (streamed,) = final.choices[0].message.tool_calls or []
    assert streamed.function.name == "weather"
    assert json.loads(streamed.function.arguments) == {"city": "Paris"}


def test_responses_create_passes_through(client: OpenAI, server: FaultServer) -> None:
    response = client.responses.create(model="m", input="Hi")
    assert response.output_text == "echo: Hi"
    assert server.calls == 0 and server.other_requests[-1].path == "/v1/responses"


def test_models_pass_through_and_never_fail_over(server: FaultServer) -> None:
    with FaultServer(lifetime=60, default=Ok("backup")) as backup_server:
        backup = OpenAICompatible(name="backup", base_url=backup_server.base_url, model="b")
        with OpenAI(
            api_key="k", base_url=server.base_url, providers=[backup], local=False
        ) as client:
            assert [m.id for m in client.models.list()] == ["test-model"]
    assert backup_server.other_requests == [] and len(server.other_requests) == 1


def test_with_options_max_retries_and_copy(client: OpenAI, server: FaultServer) -> None:
    server.script(Status(503), Status(503), Status(503), Ok("third retry"))
    patient = client.with_options(max_retries=3)
    assert isinstance(patient, OpenAI)
    assert patient.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert server.calls == 4
    server.script(Status(503), Ok("unused"))
    with pytest.raises(openai.InternalServerError):
        client.with_options(max_retries=0).chat.completions.create(model="m", messages=USER)
    assert server.calls == 5
    tagged = client.copy(default_headers={"X-Team": "search"})
    tagged.chat.completions.create(model="m", messages=USER)
    assert server.requests[-1].headers["x-team"] == "search"
    assert tagged.api_key == "k" and client.copy(api_key="k2").api_key == "k2"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_openais_exception_classes(
    client: OpenAI, server: FaultServer, code: int, error: type[openai.APIStatusError]
) -> None:
    server.default = Status(code, message=f"status {code}", retry_after=7 if code == 429 else None)
    server.rule = None
    with pytest.raises(error) as caught:
        client.with_options(max_retries=0).chat.completions.create(model="m", messages=USER)
    assert caught.value.status_code == code
    assert isinstance(caught.value.body, dict) and caught.value.body["message"] == f"status {code}"
    route = route_of(caught.value)
    assert route is not None and route.attempts[0].status_code == code
    if code == 429:
        assert caught.value.response.headers["retry-after"] == "7"


def test_every_provider_rate_limited_is_a_429_with_the_shortest_wait(server: FaultServer) -> None:
    server.default, server.rule = Status(429, retry_after=20), None
    with FaultServer(lifetime=60, default=Status(429, retry_after=3)) as other:
        backup = OpenAICompatible(name="backup", base_url=other.base_url, model="b")
        with OpenAI(
            api_key="k", base_url=server.base_url, providers=[backup], local=False, max_retries=0
        ) as client:
            with pytest.raises(openai.RateLimitError) as caught:
                client.chat.completions.create(model="m", messages=USER)
    assert caught.value.response.headers["retry-after"] == "3"
    assert isinstance(caught.value.body, dict)
    errors = caught.value.body["deepseek_resilient"]["errors"]
    assert [(e["provider"], e["status_code"]) for e in errors] == [("openai", 429), ("backup", 429)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_failure_is_api_connection_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with OpenAI(api_key="k", base_url=url, local=False, max_retries=0) as client:
        with pytest.raises(openai.APIConnectionError) as caught:
            client.chat.completions.create(model="m", messages=USER)
    assert not isinstance(caught.value, openai.APITimeoutError)
    route = route_of(caught.value)
    assert route is not None and route.attempts[0].error == "APIConnectionError"


def test_our_deadline_is_api_timeout_error(server: FaultServer) -> None:
    server.script(Silent(seconds=10))
    with OpenAI(api_key="k", base_url=server.base_url, local=False, max_retries=0) as client:
        with pytest.raises(openai.APITimeoutError):
            client.with_options(timeout=0.3).chat.completions.create(model="m", messages=USER)


def test_an_unknown_keyword_is_a_type_error(client: OpenAI) -> None:
    with pytest.raises(TypeError, match="bogus"):
        client.chat.completions.create(model="m", messages=USER, bogus=1)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        OpenAI(api_key="k", bogus=1)


def test_close(server: FaultServer) -> None:
    client = OpenAI(api_key="k", base_url=server.base_url, local=False)
    client.chat.completions.create(model="m", messages=USER)
    client.close()
    assert client.is_closed()
    assert client.transport.client._root._portal is None  # our loop thread stopped too


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_with_and_close(server: FaultServer) -> None:
    async with AsyncOpenAI(api_key="k", base_url=server.base_url, local=False) as client:
        assert isinstance(client, openai.AsyncOpenAI)
        resp = await client.chat.completions.create(model="m", messages=USER)
        assert isinstance(resp, ChatCompletion)
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=USER)
        assert route_of(raw) is not None
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "echo: Hi"
        parsed = await client.chat.completions.parse(
            model="m", messages=USER, response_format=Weather
        )
        assert isinstance(parsed.choices[0].message.parsed, Weather)
    assert client.is_closed()
    other = AsyncOpenAI(api_key="k", base_url=server.base_url, local=False)
    await other.close()
    assert other.is_closed()
    await anyio.lowlevel.checkpoint()


def test_other_endpoints_are_retried_on_the_callers_endpoint_only(server: FaultServer) -> None:
    server.script_other(Status(503), Status(503))
    with FaultServer(lifetime=60) as backup_server:
        backup = OpenAICompatible(name="backup", base_url=backup_server.base_url, model="b")
        with OpenAI(
            api_key="k",
            base_url=server.base_url,
            providers=[backup],
            local=False,
            max_retries=2,
            clock=InstantClock(),
        ) as client:
            assert [m.id for m in client.models.list()] == ["test-model"]  # the 3rd try
            server.script_other(Status(500, message="still down"))
            with pytest.raises(openai.InternalServerError) as caught:
                client.with_options(max_retries=0).models.list()
    assert len(server.other_requests) == 4 and backup_server.other_requests == []
    assert isinstance(caught.value.body, dict) and caught.value.body["message"] == "still down"


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


_HI = b'"messages":[{"role":"user","content":"Hi"}]'


@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"m",' + _HI + b',"x":NaN}',
        b'{"model":"m",' + _HI + b',"x":-Infinity}',
        b'{"model":"m",' + _HI + b',"x":"\\ud800"}',
        b'{"model":"m",' + _HI + b',"x":"\xed\xa0\x80"}',  # a raw UTF-16 surrogate
        b'{"model":"m",' + _HI + b',"x":' + json.dumps(_nested(40)).encode() + b"}",
    ],
    ids=["nan", "infinity", "lone-surrogate-escape", "raw-surrogate", "too-deep"],
)
def test_a_body_that_is_not_plain_json_is_a_bad_request(server: FaultServer, body: bytes) -> None:
    """openai-python never sends these (it refuses NaN and surrogates itself); any other
    user of the transport gets the typed 400 the client gives, and nothing goes upstream."""
    transport = ResilientTransport(
        [OpenAICompatible(name="openai", base_url=server.base_url, model="m", api_key="k")]
    )
    with httpx2.Client(transport=transport) as http:
        response = http.post(f"{server.base_url}/chat/completions", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("invalid request")
    assert server.requests == []


def test_text_that_only_looks_suspect_is_answered(client: OpenAI, server: FaultServer) -> None:
    """The words NaN and Infinity, an emoji and many small objects are plain JSON: such a
    request is checked in full and answered."""
    text = "NaN, Infinity and \U0001f600 are words"
    resp = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": text}],
        extra_body={"shape": {f"k{i}": {"v": [i]} for i in range(20)}},
    )
    assert resp.choices[0].message.content == f"echo: {text}"
    assert server.requests[0].body["shape"]["k19"] == {"v": [19]}
