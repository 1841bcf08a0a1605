"""The base of the response models, and the nested models of the rarer fields openai-python's
types carry: audio answers, URL-citation annotations, custom tool calls and moderation results.

Lenient as every response model: a field a provider leaves out (or sends as null) is ``None``,
even where openai's type requires it, and unknown fields are kept. No ``from __future__ import
annotations`` (see ``request``).
"""

from typing import Any, Literal

from pydantic import Field

from .._core.factories import empty_dict
from .request import WireModel

__all__ = [
    "Annotation",
    "AnnotationURLCitation",
    "ChatCompletionAudio",
    "ChoiceDeltaAudio",
    "CustomToolCall",
    "Moderation",
    "ModerationResult",
    "ModerationResults",
]


class _Answer(WireModel):
    """Response-side models: ``to_dict()`` / ``to_json()`` as in openai-python."""

    def to_dict(
        self,
        *,
        mode: Literal["json", "python"] = "python",
        exclude_unset: bool = True,
        exclude_none: bool = False,
    ) -> dict[str, Any]:
        """The model as a dict; by default only the fields that were set (the wire shape)."""
        return self.model_dump(mode=mode, exclude_unset=exclude_unset, exclude_none=exclude_none)

    def to_json(
        self, *, indent: int | None = 2, exclude_unset: bool = True, exclude_none: bool = False
    ) -> str:
        """The model as a JSON string (see ``to_dict``)."""
        return self.model_dump_json(
            indent=indent, exclude_unset=exclude_unset, exclude_none=exclude_none
        )


class ChatCompletionAudio(_Answer):
    """An audio answer (``modalities=["audio"]``): ``data`` is base64 audio."""

    id: str | None = None
    data: str | None = None
    expires_at: int | None = None
    transcript: str | None = None


class ChoiceDeltaAudio(_Answer):
    """A piece of an audio answer in a stream."""

    id: str | None = None
    data: str | None = None
    expires_at: int | None = None
    transcript: str | None = None


class AnnotationURLCitation(_Answer):
    end_index: int | None = None
    start_index: int | None = None
    title: str | None = None
    url: str | None = None


class Annotation(_Answer):
    """A citation in the answer (web search): ``type="url_citation"``."""

    type: str = "url_citation"
    url_citation: AnnotationURLCitation | None = None


class CustomToolCall(_Answer):
    """The call of a custom tool: its ``name`` and free-form ``input``."""

    name: str | None = None
    input: str | None = None


class ModerationResult(_Answer):
    type: str = "moderation_result"
    model: str | None = None
    flagged: bool | None = None
    categories: dict[str, bool] = Field(default_factory=empty_dict)
    category_scores: dict[str, float] = Field(default_factory=empty_dict)
    category_applied_input_types: dict[str, list[str]] = Field(default_factory=empty_dict)


class ModerationResults(_Answer):
    """The moderation of the input or of the output: ``type="moderation_results"`` with
    ``results``, or ``type="error"`` with ``code`` and ``message``."""

    type: str = "moderation_results"
    model: str | None = None
    results: list[ModerationResult] | None = None
    code: str | None = None
    message: str | None = None


class Moderation(_Answer):
    """Moderation of the request and the answer, when asked with ``moderation=``."""

    input: ModerationResults | None = None
    output: ModerationResults | None = None
