"""Server-sent events: the incremental decoder.

``SSEDecoder`` follows the WHATWG "event stream interpretation" rules: UTF-8 with a leading
BOM stripped, lines ended by CRLF, LF or CR (a CRLF split across two reads is one line end),
``field: value`` lines (one space after the colon removed), multi-line ``data`` joined with
``\\n``, comment lines starting with ``:`` and unknown fields ignored, an event dispatched by a
blank line only when it carried ``data``. It never raises on any input: bytes that are not
UTF-8 become U+FFFD.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["CR", "SSEDecoder", "SSEEvent"]

#: The byte CR as an int, for ``CR not in data``: with a ``bytes`` needle, ``in`` first tries
#: it as an int and raises and clears a ``TypeError`` (about 2,000 machine instructions, on
#: every read); an int needle is a plain byte search.
CR = ord("\r")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event.

    ``event`` is None for an unnamed event (the spec's default type "message"). ``id`` is the
    stream's last event id at dispatch time (it persists across events, as the spec says).
    ``retry`` is the reconnection time in ms sent in this event's block, if any.
    """

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental SSE decoder: feed it bytes as they arrive, get whole events back.

    ``keepalives`` counts progress-free messages: each comment line, and each blank line that
    closes a block without data (a blank line right after comment lines is part of that
    comment's message and is not counted twice). DeepSeek's ``": keep-alive\\n\\n"`` counts 1.
    """

    __slots__ = (
        "_block_comment",
        "_data",
        "_event",
        "_last_cr",
        "_last_id",
        "_raw",
        "_retry",
        "_size",
        "_started",
        "_tail",
        "_tail_size",
        "keepalives",
    )

    def __init__(self) -> None:
        self._raw = b""  # the start of a UTF-8 sequence split across two reads
        self._started = False  # some text was decoded (a BOM is stripped only before it)
        self._tail: list[str] = []  # an unterminated line carried over, in pieces
        self._tail_size = 0  # its characters
        self._last_cr = False  # the previous read ended with CR: drop a leading LF
        self._data: list[str] = []
        self._event: str | None = None
        self._retry: int | None = None
        self._last_id: str | None = None
        self._block_comment = False
        self._size = 0  # characters of data held for the event being read
        self.keepalives = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Decode ``data`` (any slice of the stream) and return the events it completed."""
        items = self.feed_items(data)
        if items and type(items[0]) is str:  # whole data blocks: unnamed events
            last_id = self._last_id
            return [SSEEvent(None, d, last_id, None) for d in items]
        return items  # type: ignore[return-value]

    def feed_items(self, data: bytes) -> list[str] | list[SSEEvent]:
        """``feed``, with each event of the common read (whole ``data: `` blocks, one line
        each, read between events) given as its data alone: a ``str`` stands for
        ``SSEEvent(None, data, <the last id>, None)``. A list holds one kind only."""
        if (
            data[-2:] == b"\n\n"
            and self._started
            and not (self._raw or self._tail or self._data or self._last_cr)
            and not self._block_comment
            and self._event is None
            and self._retry is None
            and CR not in data
        ):
            # Between events, whole blocks arrived (it ends in ASCII: nothing is held back).
            text = codecs.utf_8_decode(data, "replace", True)[0]
            blocks = self._data_blocks(text)
            return blocks if blocks is not None else self._text(text)
        text = self._decode(data, final=False)
        return self._text(text) if text else []

    def between_events(self, read: bytes) -> bool:
        """Nothing is held (no partial line, event or UTF-8 sequence): a read that is exactly
        one whole ``data: `` block of one line, with no CR, is then one event whose data is
        that line's value, and ``feed_items`` would change nothing else (``ChunkReader``
        reads such a read without the decoder). Before any text, ``read`` (the next read,
        when it starts with ASCII text: no BOM) starts the text, as decoding it would."""
        if not self._started:
            if self._raw or not b"\x00" <= read[:1] < b"\x80":
                return False
            self._started = True  # the read starts with text, not a BOM
        return (
            not (self._raw or self._tail or self._data or self._last_cr)
            and not self._block_comment
            and self._event is None
            and self._retry is None
        )

    def _text(self, text: str) -> list[SSEEvent]:
        if self._last_cr or "\n" in text or "\r" in text:
            return self._lines(text, final=False)
        self._tail.append(text)  # the middle of a line: kept for when its end arrives
        self._tail_size += len(text)
        return []

    def _decode(self, data: bytes, *, final: bool) -> str:
        """UTF-8 (invalid bytes become U+FFFD), a leading BOM dropped; a sequence split
        across two reads is kept for the next (the C codec, no Python decoder object)."""
        if self._raw:
            data = self._raw + data
        text, used = codecs.utf_8_decode(data, "replace", final)
        self._raw = data[used:]
        if not self._started and text:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        return text

    def flush(self) -> list[SSEEvent]:
        """End of stream: return the pending event even without its closing blank line.

        The decoder is reset afterwards (the last event id is kept), so it can be reused.
        """
        text = self._decode(b"", final=True)
        events = self._lines(text, final=True)
        if self._data:
            events.append(self._dispatch())
        elif self._block_comment:
            self._block_comment = False
        self._event = None
        self._retry = None
        self._raw = b""
        self._started = False
        self._last_cr = False
        return events

    # ------------------------------------------------------------------ internals

    def _data_blocks(self, text: str) -> list[str] | None:
        """The common case, read between events: whole blocks of one ``data: `` line each
        (what every chat API sends). Their events' data, as the general rules give them;
        None for anything else (nothing consumed: the general path reads it)."""
        datas = []
        for block in text[:-2].split("\n\n"):
            if block[:6] != "data: " or "\n" in block:
                return None
            datas.append(block[6:])
        return datas

    def _lines(self, text: str, *, final: bool) -> list[SSEEvent]:
        """The events completed by ``text``. An unterminated line is kept as a list of pieces
        (joined once its end arrives): a line dripped a byte at a time costs linear time."""
        text = self._normalize(text)
        if "\n" not in text:
            if text:
                self._tail.append(text)
                self._tail_size += len(text)
            if not (final and self._tail):
                return []
            lines = ["".join(self._tail)]
            self._tail, self._tail_size = [], 0
            return self._parse(lines)
        lines = text.split("\n")
        if self._tail:
            self._tail.append(lines[0])
            lines[0] = "".join(self._tail)
        tail = lines.pop()  # (at the end of the stream no text has a line end: see flush)
        self._tail = [tail] if tail else []
        self._tail_size = len(tail)
        return self._parse(lines)

    def _normalize(self, text: str) -> str:
        """``text`` with CRLF and CR turned into LF (a CRLF split across two reads too)."""
        if self._last_cr and text and text[0] == "\n":
            text = text[1:]  # the LF of a CRLF that was split across two reads
        if "\r" in text:
            self._last_cr = text[-1] == "\r"
            return text.replace("\r\n", "\n").replace("\r", "\n")
        self._last_cr = False
        return text

    def _parse(self, lines: list[str]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    if not self._block_comment:
                        self.keepalives += 1
                    self._block_comment = False
                    self._event = None
                    self._retry = None
            elif line[0] == ":":
                self.keepalives += 1
                self._block_comment = True
            else:
                self._field(line)
        return events

    def _field(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += len(value) + 1
        elif name == "event":
            self._event = value or None
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) < 19:
            self._retry = int(value)  # longer digit strings are ignored, not an error
        # any other field is ignored, as the spec says

    def _dispatch(self) -> SSEEvent:
        data = self._data
        event = SSEEvent(
            self._event,
            data[0] if len(data) == 1 else "\n".join(data),
            self._last_id,
            self._retry,
        )
        self._data = []
        self._size = 0
        self._event = None
        self._retry = None
        self._block_comment = False
        return event

    @property
    def pending(self) -> int:
        """Characters held for the event not yet complete (its data and the open line)."""
        return self._size + self._tail_size
