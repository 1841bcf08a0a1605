"""Secrets that are not API keys (issue 23): credentials in a ``base_url``, Basic credentials a
server echoes, secrets in custom headers. Each is looked for in reprs, error texts, every log
record (ours, httpx2's and httpcore2's at DEBUG) and the CLI's output, and found in none."""

from __future__ import annotations

import base64
import logging
import secrets

import pytest
from _support import USER
from hypothesis import example, given
from hypothesis import strategies as st

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    ConfigurationError,
    OpenAICompatible,
    Retry,
)
from deepseek_resilient._core.redact import (
    _FILTER,
    _PATTERNS,
    LOGGERS,
    _mask,
    clip,
    install_log_filter,
    redact,
    redact_value,
    register_secret,
    register_url_secrets,
)
from deepseek_resilient.cli import main
from deepseek_resilient.testing import FaultServer, InstantClock, Ok, Status

PASSWORD = "pw-LEAKCANARY-9c1e"
HEADER_SECRET = "hdr0LEAKCANARY5b7d9f1a3c"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def _clean(text: str) -> bool:
    return PASSWORD not in text and BASIC not in text and HEADER_SECRET not in text


def _texts(exc: AllProvidersFailed) -> str:
    texts = [str(exc), repr(exc), str(exc.args), repr(exc.route)]
    for err in exc.errors:
        texts += [str(err), repr(err), str(err.args), repr(getattr(err, "body", None))]
    return "\n".join(texts)


@pytest.mark.anyio
async def test_url_credentials_leak_nowhere(
    llm_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``http://alice:password@host``: the client sends them as Basic auth; the server echoes
    the header and the password. httpx2 logs each request's URL at INFO."""
    caplog.set_level(logging.DEBUG)
    host = llm_server.base_url.split("://", 1)[1]
    url = f"http://alice:{PASSWORD}@{host}"
    provider = OpenAICompatible(name="p", base_url=url, model="m")
    assert _clean(repr(provider)) and "<redacted>@" in repr(provider)
    assert _clean(provider.identity)  # cache keys are built from it
    async with AsyncClient([provider], clock=InstantClock()) as client:
        answer = await client.chat.completions.create(messages=USER)
        assert answer.choices[0].message.content
        assert llm_server.requests[0].authorization_is(f"Basic {BASIC}")
        echo = f"bad credentials: Authorization: Basic {BASIC} (password {PASSWORD}) for {url}"
        llm_server.default = Status(401, message=echo)
        with pytest.raises(AllProvidersFailed) as info:
            await client.chat.completions.create(messages=USER, stream=True)
    assert "Basic <redacted>" in _texts(info.value) and _clean(_texts(info.value))
    urls = [r for r in caplog.records if r.name == "httpx2" and "HTTP Request" in r.getMessage()]
    assert urls and all("<redacted>@" in r.getMessage() for r in urls)
    assert any(r.name.startswith("httpcore2") for r in caplog.records)
    assert _clean(caplog.text)
    assert not any(not _clean(str(r.args)) or not _clean(str(r.msg)) for r in caplog.records)


@pytest.mark.anyio
async def test_a_secret_custom_header_leaks_nowhere(
    llm_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Azure-style ``api-key`` header: sent as given, and redacted when the server echoes it."""
    caplog.set_level(logging.DEBUG)
    provider = OpenAICompatible(
        name="azure", base_url=llm_server.base_url, model="m", headers={"api-key": HEADER_SECRET}
    )
    llm_server.default = Status(401, message=f"Access denied: key {HEADER_SECRET} is invalid")
    async with AsyncClient([provider], retry=Retry(attempts=1), clock=InstantClock()) as client:
        with pytest.raises(AllProvidersFailed) as info:
            await client.chat.completions.create(messages=USER)
    assert llm_server.requests[0].headers["api-key"] == HEADER_SECRET  # it was sent
    assert "key <redacted> is invalid" in _texts(info.value)
    assert _clean(_texts(info.value)) and _clean(caplog.text)


@pytest.mark.parametrize(
    "headers",
    [
        {"api-key": HEADER_SECRET + "\n"},  # read from a file with its newline
        {"X-Custom": "a\r\nInjected: yes"},
        {"api-key": HEADER_SECRET + "\x00"},
        {"bad header": "v"},
        {"": "v"},
        {"api-key": HEADER_SECRET + "é"},
    ],
)
def test_invalid_header_values_are_refused_at_construction(headers: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAICompatible(name="p", base_url="http://127.0.0.1:9/v1", model="m", headers=headers)
    text = f"{info.value} {info.value!r} {info.value.args}"
    assert "header" in text and _clean(text)


def test_valid_headers_are_accepted() -> None:
    headers = {"X-Title": "my app (v2)", "HTTP-Referer": "https://example.com/a?b=c\tok"}
    OpenAICompatible(name="p", base_url="http://127.0.0.1:9/v1", model="m", headers=headers)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic dXNlcjpwdw==", "Authorization: Basic <redacted>"),
        ("basic dXNlcjpwdw", "basic <redacted>"),  # unpadded
        ("basic authentication failed", "basic authentication failed"),  # not base64 of a:b
        ('Basic realm="api"', 'Basic realm="api"'),
        ("GET https://bob:s3cr3t@api.example.com/v1", "GET https://<redacted>@api.example.com/v1"),
        ("redis://:pass@host:6379/0", "redis://<redacted>@host:6379/0"),
        ("https://api.example.com/v1?user=a@b", "https://api.example.com/v1?user=a@b"),
        ("mail me: a@b.c", "mail me: a@b.c"),
        ("Bearer abc.def-ghi", "Bearer <redacted>"),
        ("key sk-abcdef123", "key sk-<redacted>"),
    ],
)
def test_redact_patterns(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_cli_never_shows_url_credentials(
    llm_server: FaultServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: None)
    host = llm_server.base_url.split("://", 1)[1]
    monkeypatch.setenv("DEEPSEEK_BASE_URL", f"http://alice:{PASSWORD}@{host}")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-cli-url-test-key")
    llm_server.default = Status(401, message=f"no: Basic {BASIC} / {PASSWORD}")
    main(["doctor"])
    assert main(["chat", "hi"]) == 2
    out, err = capsys.readouterr()
    assert "AuthenticationError" in out + err and _clean(out + err)
    llm_server.default = Ok("fine")
    assert main(["doctor"]) == 0
    out, err = capsys.readouterr()
    assert _clean(out + err)


# ----------------------------------------------------------------------------- unit level


# Registered secrets are process-wide: each test below makes up fresh ones, so that what an
# earlier test (or a parent process) registered cannot make it pass.


def _fresh(n: int) -> str:
    return secrets.token_urlsafe(n)[:n].replace("-", "x").replace("_", "y")


def test_secrets_of_six_characters_or_more_are_registered() -> None:
    six, five = _fresh(6), _fresh(5)
    register_secret(f" {six}\n")  # surrounding whitespace ignored: 6 characters
    register_secret(five)  # 5: too short to search for (ordinary words would go)
    assert redact(f"a {six} b {five} c") == f"a <redacted> b {five} c"


def test_url_secrets_are_registered_raw_decoded_and_as_basic() -> None:
    user, word = f"bob{_fresh(8)}", _fresh(10)
    register_url_secrets(f"http://{user}:p%40{word}@host/v1")
    assert redact(f"p%40{word} and p@{word}") == "<redacted> and <redacted>"
    basic = base64.b64encode(f"{user}:p@{word}".encode()).decode()
    assert redact(f"token={basic}") == "token=<redacted>"  # no "Basic" before it: registered
    user = f"carol{_fresh(8)}"
    register_url_secrets(f"http://{user}@host/v1")  # a user and no password
    assert redact(base64.b64encode(f"{user}:".encode()).decode()) == "<redacted>"
    word = _fresh(12)
    register_url_secrets(f"http://:{word}@host/v1")  # a password and no user
    assert redact(base64.b64encode(f":{word}".encode()).decode()) == "<redacted>"
    register_url_secrets("http://host/v1")  # no credentials: nothing, and no error
    register_url_secrets("http://[::1/v1")  # malformed: ignored


@pytest.mark.parametrize(
    ("token", "credentials"),
    [("YTpiY2Q", True), ("YTpiYw", True), ("YTpi", True), ("aGVsbG8=", False), ("!!!!", False)],
)
def test_basic_credentials_are_base64_of_a_colon_pair(token: str, credentials: bool) -> None:
    """Unpadded tokens of every length are decoded ("a:bcd", "a:bc", "a:b"); base64 of a
    word without a colon ("hello") is not credentials."""
    expected = "Basic <redacted>" if credentials else f"Basic {token}"
    assert redact(f"Basic {token}") == expected


def test_clip_marks_what_it_cut() -> None:
    assert clip("x" * 10, 10) == "x" * 10
    assert clip("x" * 15, 10) == "x" * 10 + "... [5 more characters cut]"


class _Thing:
    def __repr__(self) -> str:
        return "Thing(sk-abcdefgh1234)" + "y" * 30


def test_redact_value_bounds_depth_size_and_text() -> None:
    assert redact_value("key sk-abcdefgh1234") == "key sk-<redacted>"
    assert redact_value("x" * 50, limit=10) == "x" * 10 + "... [40 more characters cut]"
    for scalar in (None, True, 0, 1.5):
        assert redact_value(scalar, depth=0) == scalar
    assert redact_value({"a": 1}, depth=0) == "..." and redact_value([1], depth=0) == "..."
    assert redact_value({"a": 1}, depth=1) == {"a": 1}
    deep: object = 1
    for _ in range(40):
        deep = [deep]
    kept, levels = redact_value(deep), 0  # 32 levels by default
    while isinstance(kept, list):
        kept, levels = kept[0], levels + 1
    assert (levels, kept) == (32, "...")
    nested = {"a": {"b": {"c": 1}}, "l": [[[1]]]}
    assert redact_value(nested, depth=2) == {"a": {"b": "..."}, "l": ["..."]}
    assert redact_value(nested, depth=3) == {"a": {"b": {"c": 1}}, "l": [["..."]]}
    assert redact_value({"k" * 250: ["sk-abcdefgh1234"]}) == {
        "k" * 200 + "... [50 more characters cut]": ["sk-<redacted>"]
    }
    assert (
        redact_value(_Thing(), limit=25) == "Thing(sk-<redacted>)yyyyy... [25 more characters cut]"
    )


def test_the_log_filter_is_on_every_logger_once_and_never_drops_a_record() -> None:
    for name in LOGGERS:  # as in a fresh process
        logging.getLogger(name).removeFilter(_FILTER)
    install_log_filter()
    install_log_filter()
    for name in LOGGERS:
        assert logging.getLogger(name).filters.count(_FILTER) == 1
    assert _FILTER not in logging.getLogger().filters  # the root logger is the app's
    broken = logging.LogRecord("httpx2", logging.INFO, "", 0, "%d", ("not a number",), None)
    assert _FILTER.filter(broken) is True  # a malformed record is left to the handler
    record = logging.LogRecord("httpx2", logging.INFO, "", 0, "GET %s", ("http://u:p@h/",), None)
    assert _FILTER.filter(record) is True and record.getMessage() == "GET http://<redacted>@h/"
    clean = logging.LogRecord("httpx2", logging.INFO, "", 0, "GET %s", ("http://h/",), None)
    assert _FILTER.filter(clean) and clean.args == ("http://h/",)  # untouched when clean


_PIECES = [
    "bearer ", "Bearer\t", "BEARER", "basic ", "Basic dXNlcjpwYXNz", "BASIC", "sk-", "SK-",
    "Sk-abcdef12", "https://", "HTTP://", "user:pw@", "://", "abcdef123", " ", "x", "-", ":",
    "@", "ba", "sic", "bear", "er", "s", "k", "\u017f", "\u212a", "\u0130", "\u00e9",
]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
@example("\u017fk-abcdefgh123")  # the long s: matched as "s" by the case-insensitive patterns
@example("ba\u017fic dXNlcjpwYXNz")
@example("no secret in this plain message at all")
@example("connect to https://user:pw@example.com/v1 failed")
def test_redact_skips_the_patterns_only_for_text_they_cannot_match(text: str) -> None:
    # redact() runs the patterns only on text holding one of their literal parts (ASCII) or
    # any non-ASCII text: the same result as running them always.
    assert redact(text) == _PATTERNS.sub(_mask, text)
