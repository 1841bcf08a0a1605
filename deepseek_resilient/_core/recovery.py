"""The router's side of stream recovery: after a committed stream broke, open a stream on the
next candidate of the plan (``_streaming.recovery.plan``) through that provider's own chain
(retry, breaker, rate limit, timed send), and keep the first one that passes ``verify``."""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .._models import Attempt, ChatMessage, ChatRequest
from .._streaming.opening import OpenedStream, Resume, close_quietly
from .._streaming.recovery import Broken, IgnoredPrefix, held_back, plan, verify
from .._streaming.splice import Diverged, Splice, committed_attempt, failed_attempt
from .call import Call, Handler, ProviderSlot
from .errors import BadRequestError, NotFoundError, ProviderError, UnprocessableEntityError

if TYPE_CHECKING:
    from .._providers.base import Provider

__all__ = ["prefix_request", "resume_stream", "trusted"]

#: Providers whose continuation wrote a held-back tail again: they honour a prefill (in this
#: process), so later continuations get the whole delivered text (see ``_streaming.recovery``).
_TRUSTED: weakref.WeakSet[Provider] = weakref.WeakSet()


def trusted(provider: Provider) -> bool:
    """Whether ``provider`` has shown that it continues an assistant prefix."""
    try:
        return provider in _TRUSTED
    except TypeError:  # a custom provider that cannot be hashed is never trusted
        return False


def _trust(provider: Provider) -> None:
    with contextlib.suppress(TypeError):
        _TRUSTED.add(provider)


#: A continuation refused with one of these (the server does not take a prefill, or has no
#: prefix endpoint) leaves that provider's restart in the plan.
_REJECTED = (BadRequestError, UnprocessableEntityError, NotFoundError)


async def resume_stream(
    call: Call,
    failed: int,
    broken: Broken,
    *,
    slots: Sequence[ProviderSlot],
    chains: Sequence[Handler],
    reserve: float,
    again: Callable[[int], Resume],
) -> tuple[OpenedStream, Splice]:
    """A verified stream going on from ``broken`` (provider ``failed`` broke it), and the
    splice that fits it on; ``again(i)`` resumes that one in turn if it breaks. Raises the
    last ``ProviderError`` when no candidate could. A candidate's own failure (even a 400 to
    a prefill) never masks what broke the stream: the next candidate is tried."""
    steps = plan(broken, failed, [slot.provider.prefix_completion for slot in slots])
    text = broken.text
    continued = prefix_request(call.request, text) if text else call.request
    requests = [continued if how == "continue" else call.request for _, how in steps]
    refusals = [slots[i].refusal(request) for (i, _), request in zip(steps, requests, strict=True)]
    last_error = ProviderError(
        f"no provider could resume the stream after {type(broken.failure).__name__}"
    )
    given_up: set[int] = set()
    for step, (index, how) in enumerate(steps):
        if index in given_up:
            continue
        name = slots[index].provider.name
        refused = refusals[step]
        if refused is not None:
            call.route.attempts.append(
                Attempt(provider=name, outcome="skipped", error=type(refused).__name__)
            )
            last_error = refused
            given_up.add(index)
            continue
        provider = slots[index].provider
        tail = held_back(text) if how == "continue" and not trusted(provider) else ""
        request = requests[step]
        if tail:  # the tail a continuation must write again: left out of its prefix
            request = prefix_request(call.request, text[: len(text) - len(tail)])
        sub = dataclasses.replace(call, request=request)
        sub.enter(any(r is None for r in refusals[step + 1 :]), reserve)
        try:
            opened = await chains[index](sub)
        except ProviderError as exc:
            last_error = exc
            if not (how == "continue" and isinstance(exc, _REJECTED)):
                given_up.add(index)
            continue
        assert isinstance(opened, OpenedStream)
        if how == "continue":
            splice = Splice(how, broken.chunk_id, tail)
        else:
            splice = Splice(how, broken.chunk_id, text, broken.reasoning)
        try:
            opened.buffered = await verify(
                opened, splice, broken, check_fresh=how == "continue" and not tail
            )
        except (Diverged, IgnoredPrefix) as exc:
            # It answered, just not with the rest of ours: not a failure of the provider.
            await _drop(call, opened, exc, None)
            if isinstance(exc, Diverged):
                given_up.add(index)
            continue
        except Exception as exc:  # it broke before adding anything: that provider is spent
            error = exc if isinstance(exc, ProviderError) else _wrapped(exc, name)
            await _drop(call, opened, exc, error)
            broken.state.spent.add(index)  # (the plan leaves it out of later recoveries)
            given_up.add(index)
            last_error = error
            continue
        except BaseException:
            await _drop(call, opened, None, None)
            raise
        if tail:
            _trust(provider)
        if opened.rest is not None:
            opened.resume = again(index)
        return opened, splice
    raise last_error


async def _drop(
    call: Call, opened: OpenedStream, why: BaseException | None, error: ProviderError | None
) -> None:
    """Let go of a candidate: close it, mark its attempt with ``why`` (None: left as it is)
    and tell its finishers ``error`` (None: not a failure of the provider)."""
    await close_quietly(opened.rest)
    opened.rest = None
    if why is not None:
        failed_attempt(call.route, committed_attempt(call.route, opened.provider), why)
    for finish in opened.finishers:
        finish(error)
    opened.finishers = []


def _wrapped(exc: Exception, provider: str) -> ProviderError:
    """A custom provider's own exception, typed (never raw)."""
    error = ProviderError(f"{type(exc).__name__}: {exc}", provider=provider)
    error.__cause__ = exc
    return error


def prefix_request(request: ChatRequest, text: str) -> ChatRequest:
    """``request`` asking to continue ``text`` as the assistant's answer (the last message
    an assistant message with ``"prefix": true``, DeepSeek's chat prefix completion)."""
    messages = list(request.messages)
    last = messages[-1]
    if last.role == "assistant" and (last.model_extra or {}).get("prefix"):
        text = str(last.content or "") + text  # the caller's own prefix, then ours
        messages.pop()
    messages.append(
        ChatMessage.model_validate({"role": "assistant", "content": text, "prefix": True})
    )
    return request.model_copy(update={"messages": messages})
