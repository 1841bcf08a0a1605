"""How requests leave an HTTP provider: on a client we built, straight to its transport with
its default headers; on a caller's ``http_client=``, through that client (its hooks run)."""

from __future__ import annotations

import httpx2
import pytest
from _support import USER, http_provider

from deepseek_resilient import AsyncClient, OpenAICompatible
from deepseek_resilient.testing import FaultServer, Ok

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(llm_server: FaultServer) -> FaultServer:
    llm_server.default = Ok("hello")
    return llm_server


@pytest.mark.parametrize("stream", [False, True])
async def test_our_client_sends_its_default_and_our_headers(
    server: FaultServer, stream: bool
) -> None:
    provider = http_provider(server.base_url, headers={"X-Team": "blue"})
    async with AsyncClient([provider]) as client:
        answer = await client.chat.completions.create(
            messages=USER,
            stream=stream,
            extra_headers={"X-Team": "red", "X-Trace": "t1"},
            extra_query={"api-version": "2"},
        )
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in answer])  # type: ignore[union-attr]
        else:
            text = answer.choices[0].message.content  # type: ignore[union-attr]
    assert text == "hello"
    [seen] = server.requests
    headers = seen.headers
    assert headers["user-agent"].startswith("python-httpx2/")  # httpx2's defaults, as before
    assert "gzip" in headers["accept-encoding"] and headers["connection"] == "keep-alive"
    assert headers["authorization"] == "<redacted>"
    assert headers["content-type"] == "application/json"
    assert headers["x-team"] == "red" and headers["x-trace"] == "t1"  # the call's own win
    assert headers["accept"] == ("text/event-stream" if stream else "application/json")
    assert seen.path.endswith("/chat/completions?api-version=2")


async def test_a_callers_client_is_used_as_given(server: FaultServer) -> None:
    seen: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        seen.append(str(request.url))

    async with httpx2.AsyncClient(event_hooks={"request": [hook]}) as http:
        provider = http_provider(server.base_url, http_client=http)
        async with AsyncClient([provider]) as client:
            await client.chat.completions.create(messages=USER)
    assert len(seen) == 1 and seen[0].endswith("/chat/completions")


async def test_a_proxy_named_by_the_environment_is_used(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The FaultServer plays the proxy: the target host does not exist, so only a request sent
    # through the proxy (absolute-form URL) can be answered.
    monkeypatch.setenv("HTTP_PROXY", server.base_url.rsplit("/v1", 1)[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    provider = http_provider("http://api.example.invalid/v1")
    async with AsyncClient([provider]) as client:
        answer = await client.chat.completions.create(messages=USER)
    assert answer.choices[0].message.content == "hello"
    assert server.requests[0].path == "http://api.example.invalid/v1/chat/completions"


async def test_credentials_in_the_url_go_through_the_client_as_basic_auth(
    server: FaultServer,
) -> None:
    host = server.base_url.split("://", 1)[1]
    provider = OpenAICompatible(name="p", base_url=f"http://user:pw@{host}", model="m")
    async with AsyncClient([provider]) as client:
        await client.chat.completions.create(messages=USER)
    recorded = server.requests[0]
    assert recorded.headers.get("authorization") == "<redacted>"  # never kept in clear
    assert recorded.authorization_is("Basic dXNlcjpwdw==")  # base64 of "user:pw"
    assert not recorded.authorization_is("Bearer pw")
    assert "pw@" not in repr(provider) and "user:" not in repr(provider)


async def test_httpx2s_transport_lookup_still_exists() -> None:
    """Our sender finds a URL's transport through httpx2's private ``_transport_for_url``
    (mounts and environment proxies honoured) and calls it directly, skipping
    ``AsyncClient.send``'s per-request machinery. httpx2 is pinned to the minor versions
    this was checked on; this test fails loudly if a release renames or reshapes it."""
    async with httpx2.AsyncClient() as http:
        transport = http._transport_for_url(httpx2.URL("http://127.0.0.1:1/v1"))
    assert isinstance(transport, httpx2.AsyncBaseTransport)


async def test_our_own_client_sends_through_the_transport_directly(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[object] = []
    real_send = httpx2.AsyncClient.send

    async def counting_send(self: httpx2.AsyncClient, *args: object, **kw: object) -> object:
        sent.append(args)
        return await real_send(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx2.AsyncClient, "send", counting_send)
    async with AsyncClient([http_provider(server.base_url)]) as client:
        answer = await client.chat.completions.create(messages=USER)
    assert answer.choices[0].message.content == "hello"
    assert sent == []  # the direct path: AsyncClient.send never ran


@pytest.mark.parametrize(
    "headers",
    [None, {"Accept": "text/event-stream"}, {"X-A": "1", "accept": "b"}, {"Host": "elsewhere"}],
)
async def test_the_direct_path_builds_the_request_httpx2_builds(
    headers: dict[str, str] | None,
) -> None:
    """The direct path prepares a request's headers once per header set and copies them per
    request: the request must stay what ``httpx2.Request(..., content=...)`` builds (the same
    headers in the same order, ``Content-Length`` last, the body readable)."""
    from deepseek_resilient._providers.http.send import Sender

    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, content=b"{}")

    defaults = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    async with httpx2.AsyncClient(
        headers=defaults, transport=httpx2.MockTransport(handler)
    ) as http:
        sender = Sender(http, owned=True)
        timeout = httpx2.Timeout(5.0)
        for body in (b'{"a": 1}', b'{"a": 22}'):  # the second one reuses the prepared headers
            async with sender.stream(
                "POST", "http://127.0.0.1:1/v1/chat/completions", timeout=timeout,
                content=body, headers=headers, params={"q": "1"},
            ):  # fmt: skip
                pass
            merged = {k.lower(): v for k, v in http.headers.items()}
            merged.update({k.lower(): v for k, v in (headers or {}).items()})
            expected = httpx2.Request(
                "POST", seen[-1].url, headers=merged, content=body,
                extensions={"timeout": timeout.as_dict()},
            )  # fmt: skip
            assert seen[-1].headers.raw == expected.headers.raw
            assert seen[-1].content == body and seen[-1].extensions == expected.extensions
            assert str(seen[-1].url) == "http://127.0.0.1:1/v1/chat/completions?q=1"
