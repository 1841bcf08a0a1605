"""Every error this library raises. Branch on what the caller should do::

    DeepSeekResilientError                  root: catch this to catch everything of ours
    ├── ConfigurationError (ValueError)     bad config, or no provider can serve
    ├── InvalidRequestError (ValueError)    bad input, rejected before any I/O
    ├── ProviderError                       one provider failed (``.provider``)
    │   ├── APIConnectionError              connect failed / reset          retry, fail over
    │   │   └── APITimeoutError             idle gap or attempt time out    retry, fail over
    │   │       └── FirstTokenTimeoutError      stream: no content in time      fail over
    │   ├── APIStatusError                  HTTP status (``.status_code``, ``.body``)
    │   │   ├── BadRequestError             400        no retry, NO fail over (your request)
    │   │   │   └── ContextLengthExceededError  400 prompt too long here: no retry, fail over
    │   │   ├── UnprocessableEntityError    422        no retry, NO fail over (your request)
    │   │   ├── AuthenticationError         401        no retry, fail over, breaker opens
    │   │   ├── InsufficientBalanceError    402        no retry, fail over, breaker opens
    │   │   ├── PermissionDeniedError       403        no retry, fail over, breaker opens
    │   │   ├── NotFoundError               404        no retry, fail over
    │   │   ├── RateLimitError              429        retry (``.retry_after``), fail over
    │   │   └── InternalServerError         5xx        retry, fail over
    │   │       └── ServiceUnavailableError 503 ("server busy")
    │   ├── InvalidResponseError            2xx not a completion, or empty: retry, fail over
    │   ├── IncompleteStreamError           stream broke after its first content (``.partial``)
    │   ├── CircuitOpenError                provider skipped: its breaker is open
    │   ├── RateLimitedLocally              provider skipped: our own limiter can't admit in time
    │   ├── LocalModelError                 local backend can't load (missing extra, bad path)
    │   └── UnsupportedParameterError       a local backend can't honour a parameter: NO fail
    │                                       over, breaker-neutral (also an InvalidRequestError)
    ├── DeadlineExceeded (TimeoutError)     the request's one total deadline passed
    └── AllProvidersFailed                  every provider failed (``.errors``); when all
                                            failed alike, also that class (``.of(cls)``)

Third-party exceptions (httpx2, pybreaker, tenacity, llama.cpp, torch) never reach the caller:
they are translated at the boundary with ``raise ... from exc``. Every message is redacted
(configured API keys, ``Bearer`` tokens, ``sk-...`` keys) and a ``ProviderError``'s text,
often the server's, is cut to 2,000 characters (see docs/security.md).

Long module: the whole tree stays in one file, next to the diagram above that documents it
(as openai-python and httpx keep theirs); each class is a few lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from .redact import clip, redact, redact_value

if TYPE_CHECKING:
    from .._models import Route

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AllProvidersFailed",
    "AuthenticationError",
    "BadRequestError",
    "CircuitOpenError",
    "ConfigurationError",
    "ContextLengthExceededError",
    "DeadlineExceeded",
    "DeepSeekResilientError",
    "FirstTokenTimeoutError",
    "IncompleteStreamError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidRequestError",
    "InvalidResponseError",
    "LocalModelError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitError",
    "RateLimitedLocally",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "UnsupportedParameterError",
    "all_failed",
    "status_error",
]


class DeepSeekResilientError(Exception):
    """Root of every error raised by deepseek_resilient."""

    #: The route of the request so far (attempts made before the error), when known.
    route: Route | None = None

    def __init__(self, *args: object) -> None:
        # No configured key, bearer token or sk-... key in any text we raise.
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))

    def __copy__(self) -> DeepSeekResilientError:
        # Exception's copy calls cls(*args), which keyword-only fields (status_code) break.
        new = type(self).__new__(type(self))
        new.args = self.args
        new.__dict__.update(self.__dict__)
        return new

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled without calling __init__ again (keyword-only fields): class, args, fields.
        return (_restore, (type(self), self.args), self.__dict__)


def _restore(cls: type[DeepSeekResilientError], args: tuple[object, ...]) -> object:
    new = cls.__new__(cls)
    new.args = args
    return new


class ConfigurationError(DeepSeekResilientError, ValueError):
    """The client or a policy was configured wrongly, or no provider can serve."""


class InvalidRequestError(DeepSeekResilientError, ValueError):
    """The request is malformed; it was rejected before any I/O."""


class ProviderError(DeepSeekResilientError):
    """One provider failed to answer.

    ``retryable``: the same provider may succeed on another attempt.
    ``failover``: the next provider should be tried.
    ``breaker_neutral``: the caller's own fault; not held against the provider's health.
    """

    retryable: ClassVar[bool] = False
    failover: ClassVar[bool] = True
    breaker_neutral: ClassVar[bool] = False
    #: Trip the provider's breaker at once (bad key, no balance).
    trips_breaker: ClassVar[bool] = False

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        message = clip(redact(message))  # often server-supplied: no secrets, bounded
        super().__init__(message)
        self.message = message
        self.provider = provider

    def __str__(self) -> str:
        return f"[{self.provider}] {self.message}" if self.provider else self.message


class APIConnectionError(ProviderError):
    """Could not connect, or the connection broke before a full answer."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """The provider went silent for longer than the idle gap, or the attempt ran out of time."""


class FirstTokenTimeoutError(APITimeoutError):
    """A stream sent no content within the provider's first-token limit (or the attempt's
    time). Not retried on the same provider (its queue is what's slow): the next provider is
    tried at once."""

    retryable = False


class APIStatusError(ProviderError):
    """The provider answered with an HTTP error status."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int,
        body: object = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.status_code = status_code
        #: The parsed error body (strings redacted and clipped, nesting bounded).
        self.body = redact_value(body)
        self.request_id = request_id
        #: Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said.
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: the request itself is wrong. Retrying or failing over cannot help."""

    failover = False
    breaker_neutral = True


class ContextLengthExceededError(BadRequestError):
    """400 ``context_length_exceeded``: the request does not fit this provider's context
    window. Not retried; the next provider (maybe with a larger window) is tried at once.
    Also raised, without any I/O, when a provider's declared ``context_window`` cannot fit the
    request's token estimate (the provider is then recorded as skipped)."""

    failover = True


#: Codes and message fragments providers use for "the prompt is too long" (OpenAI's
#: ``context_length_exceeded`` code; DeepSeek's "maximum context length is N tokens" text).
_CONTEXT_CODES = frozenset({"context_length_exceeded", "context_window_exceeded"})
_CONTEXT_TEXTS = ("maximum context length", "context length exceeded", "context_length_exceeded",
                  "context window", "prompt is too long")  # fmt: skip


def _is_context_length(message: str, body: object) -> bool:
    err = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(err, dict):
        for key in ("code", "type"):
            value = err.get(key)
            if isinstance(value, str) and value.lower() in _CONTEXT_CODES:
                return True
        detail = err.get("message")
        if isinstance(detail, str):
            message = f"{message} {detail}"
    lowered = message.lower()
    return any(text in lowered for text in _CONTEXT_TEXTS)


class UnprocessableEntityError(APIStatusError):
    """422: the request's parameters are invalid. Retrying or failing over cannot help."""

    failover = False
    breaker_neutral = True


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""

    trips_breaker = True


class InsufficientBalanceError(APIStatusError):
    """402: the account has no balance left (DeepSeek)."""

    trips_breaker = True


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource."""

    trips_breaker = True


class NotFoundError(APIStatusError):
    """404: wrong base URL or model name for this provider."""


class RateLimitError(APIStatusError):
    """429: the provider rate-limited us. ``retry_after`` says how long it asked us to wait."""

    retryable = True


class InternalServerError(APIStatusError):
    """5xx: the provider failed."""

    retryable = True


class ServiceUnavailableError(InternalServerError):
    """503: the provider is overloaded ("server busy")."""


class InvalidResponseError(ProviderError):
    """The provider answered 2xx with a body that is not a valid completion."""

    retryable = True


class IncompleteStreamError(ProviderError):
    """A stream failed after its first content reached the caller; ``partial`` holds the text."""

    retryable = False
    failover = False

    def __init__(self, message: str, *, provider: str | None = None, partial: str = "") -> None:
        super().__init__(message, provider=provider)
        self.partial = partial


class CircuitOpenError(ProviderError):
    """The provider was skipped without any I/O because its circuit breaker is open."""

    def __init__(
        self, message: str, *, provider: str | None = None, retry_in: float | None = None
    ) -> None:
        super().__init__(message, provider=provider)
        #: Seconds until the breaker lets a probe through.
        self.retry_in = retry_in


class RateLimitedLocally(ProviderError):
    """The provider was skipped: our client-side limiter could not admit the request in time."""


class LocalModelError(ProviderError):
    """A local backend cannot run: a missing extra, a bad model path, a failed load."""


class UnsupportedParameterError(ProviderError, InvalidRequestError):
    """A provider (a local backend) cannot honour a parameter of the request (``n=2``,
    ``logprobs``, ...). The caller's request, not the provider's health: no retry, no fail
    over, nothing counted against its breaker. ``parameter`` names it."""

    failover = False
    breaker_neutral = True

    def __init__(self, message: str, *, provider: str | None = None, parameter: str) -> None:
        super().__init__(message, provider=provider)
        self.parameter = parameter


class DeadlineExceeded(DeepSeekResilientError, TimeoutError):
    """The request's single total deadline passed (over all attempts, sleeps and fallbacks)."""

    def __init__(self, message: str, *, errors: Sequence[ProviderError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class AllProvidersFailed(DeepSeekResilientError):
    """Every provider failed. ``errors`` holds each provider's last error, in order.

    When they all failed the same way (all ``RateLimitError``, or the one endpoint's 401),
    the error raised is ``AllProvidersFailed.of(that class)``: also an instance of that class,
    so ``except RateLimitError`` catches it. It carries that class's attributes
    (``status_code``, ``body``, ``provider``...) from the provider that asked for the
    shortest wait (``retry_after``, ``retry_in``), else from the first provider."""

    def __init__(self, errors: Sequence[ProviderError]) -> None:
        self.errors = list(errors)
        lines = "; ".join(f"{type(e).__name__}: {e}" for e in self.errors) or "no provider tried"
        kind = _shared_kind(self.errors) if isinstance(self, ProviderError) else None
        each = f", each with {kind.__name__}" if kind is not None else ""
        # Not super(): in a combined class the next in line is the provider error's __init__.
        DeepSeekResilientError.__init__(self, f"all providers failed{each}: {lines}")

    def __str__(self) -> str:  # before ProviderError's in a combined class
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[object, ...]:
        return (all_failed, (self.errors,), self.__dict__)

    @classmethod
    def of(cls, kind: type[ProviderError]) -> type[AllProvidersFailed]:
        """The class raised when every provider failed with ``kind``: a subclass of both
        (``except AllProvidersFailed.of(RateLimitError)`` catches only that case)."""
        combined = _COMBINED.get(kind)
        if combined is None:
            if not (isinstance(kind, type) and issubclass(kind, ProviderError)):
                raise TypeError(f"expected a ProviderError class, got {kind!r}")
            try:
                combined = type(
                    "AllProvidersFailed",  # the name metrics and logs show stays the same
                    (AllProvidersFailed, kind),
                    {"__module__": __name__, "__doc__": f"Every provider failed with {kind}."},
                )
            except TypeError:  # a provider's own class that cannot be combined (its layout)
                combined = AllProvidersFailed
            _COMBINED[kind] = combined
        return combined


_COMBINED: dict[type[ProviderError], type[AllProvidersFailed]] = {}
#: Too broad to stand for "the same failure" on their own.
_TOO_BROAD = (ProviderError, APIStatusError)


def _shared_kind(errors: Sequence[ProviderError]) -> type[ProviderError] | None:
    """The most specific class every error is an instance of (a 500 and a 503 share
    ``InternalServerError``), unless that is only ``ProviderError`` / ``APIStatusError``."""
    if not errors:
        return None
    for kind in type(errors[0]).__mro__:
        if kind in _TOO_BROAD or not issubclass(kind, ProviderError):
            return None
        if all(isinstance(e, kind) for e in errors):
            return kind
    return None


def all_failed(errors: Sequence[ProviderError]) -> AllProvidersFailed:
    """The error for a request every provider failed: ``AllProvidersFailed``, combined with
    the errors' shared class when they have one (see ``AllProvidersFailed``)."""
    errors = list(errors)
    kind = _shared_kind(errors)
    cls = AllProvidersFailed if kind is None else AllProvidersFailed.of(kind)
    exc = cls.__new__(cls)
    if cls is not AllProvidersFailed:
        waits = [e for e in errors if _wait(e) is not None]
        source = min(waits, key=lambda e: _wait(e) or 0.0) if waits else errors[0]
        exc.__dict__.update(source.__dict__)
        exc.__dict__.pop("route", None)
    AllProvidersFailed.__init__(exc, errors)
    if isinstance(exc, ProviderError):
        exc.message = str(exc)
    return exc


def _wait(error: ProviderError) -> float | None:
    wait = getattr(error, "retry_after", None)
    if wait is None:
        wait = getattr(error, "retry_in", None)
    return wait if isinstance(wait, (int, float)) else None


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error(
    status_code: int,
    message: str,
    *,
    provider: str | None = None,
    body: object = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The typed error for an HTTP status. Unknown 4xx are plain APIStatusError (fail over)."""
    cls = _BY_STATUS.get(status_code)
    if status_code == 400 and _is_context_length(message, body):
        cls = ContextLengthExceededError
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    return cls(
        message,
        provider=provider,
        status_code=status_code,
        body=body,
        request_id=request_id,
        retry_after=retry_after,
    )
