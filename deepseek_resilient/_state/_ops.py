"""Redis operations as data, and how they are sent: one command (``execute``), or many in
one pipeline (``pipeline``, one round trip). A script is sent as ``EVALSHA`` of a SHA-1
computed once per process; a server that does not know it yet (new, restarted, flushed) gets
it once with ``SCRIPT LOAD``. Replies are read by redis-py's parser capped in size
(``capped_parser``)."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["BATCH", "Op", "capped_parser", "execute", "pipeline", "script"]

#: The most operations sent in one pipeline (the rest go in the next).
BATCH = 256


class Op:
    """One Redis command as data: its arguments, and for ``EVALSHA`` the script's source
    (sent once with ``SCRIPT LOAD`` when the server does not know the script yet)."""

    __slots__ = ("args", "source")

    def __init__(self, args: tuple[Any, ...], source: str | None = None) -> None:
        self.args = args
        self.source = source

    def __repr__(self) -> str:
        return f"Op({self.args[0]!r})"


_SHAS: dict[str, str] = {}


def _sha(source: str) -> str:
    """A script's SHA-1, computed once per process (what ``EVALSHA`` names it by)."""
    sha = _SHAS.get(source)
    if sha is None:
        sha = _SHAS[source] = hashlib.sha1(source.encode("utf-8")).hexdigest()  # noqa: S324
    return sha


def script(source: str, keys: list[str], args: list[str]) -> Op:
    """The Lua script ``source`` on ``keys`` with ``args``, as one ``EVALSHA``."""
    return Op(("EVALSHA", _sha(source), len(keys), *keys, *args), source)


async def execute(redis: Any, op: Op) -> Any:
    try:
        return await redis.execute_command(*op.args)
    except Exception as exc:
        if op.source is None or not _no_script(exc):
            raise
    await redis.execute_command("SCRIPT", "LOAD", op.source)  # a fresh or flushed server
    return await redis.execute_command(*op.args)


async def pipeline(redis: Any, ops: list[Op]) -> list[Any]:
    """Send ``ops`` in one pipeline (scripts the server lacks: loaded, and those sent again);
    the replies, an error reply as its exception."""
    if len(ops) == 1:  # one command: no pipeline object to build
        from redis.exceptions import ResponseError

        try:
            return [await execute(redis, ops[0])]
        except ResponseError as exc:
            return [exc]
    replies = await _send_all(redis, ops)
    missing = [i for i, r in enumerate(replies) if ops[i].source is not None and _no_script(r)]
    if missing:
        for source in {ops[i].source for i in missing}:
            await redis.execute_command("SCRIPT", "LOAD", source)
        again = await _send_all(redis, [ops[i] for i in missing])
        for i, reply in zip(missing, again, strict=True):
            replies[i] = reply
    return replies


async def _send_all(redis: Any, ops: list[Op]) -> list[Any]:
    pipe = redis.pipeline(transaction=False)
    for op in ops:
        pipe.execute_command(*op.args)
    return list(await pipe.execute(raise_on_error=False))


def _no_script(reply: object) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(reply, NoScriptError)


def capped_parser(max_bytes: int) -> type[Any]:
    """redis-py's RESP parser, refusing a reply larger than ``max_bytes`` before reading it
    (a hostile or broken server cannot make this process buffer hundreds of megabytes)."""
    from redis._parsers import _AsyncRESP3Parser
    from redis.exceptions import ConnectionError as RedisConnectionError

    class CappedParser(_AsyncRESP3Parser):
        _left = max_bytes

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            self._left = max_bytes
            return await super().read_response(*args, **kwargs)

        def _spend(self, length: int) -> None:
            self._left -= length + 16
            if self._left < 0:
                raise RedisConnectionError(f"reply larger than {max_bytes} bytes: refused")

        async def _read(self, length: int) -> bytes:
            self._spend(length)
            return await super()._read(length)

        async def _readline(self) -> bytes:
            self._spend(0)  # bounds the element count of an array reply too
            return await super()._readline()

    return CappedParser
