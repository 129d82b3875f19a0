"""Responses content parts -> chat content parts (request.py's messages and tool outputs).

Text parts stay text; `input_image` becomes an `image_url` part (`detail: "original"` is
chat's `"high"`, its full-resolution level); `input_file` with `file_data` a `file` part.
Images by `file_id` and files by `file_url` only reach OpenAI upstreams serving Responses:
a 400 naming the part here. A tool output's images and files stay in its tool message
for Claude and Gemini, or are returned apart, with where each came from, for OpenAI-kind
routes, whose tool messages take text only (request.py says where they go).
"""

from __future__ import annotations

from msgspec import UNSET

from gateway.contracts.openai import (
    AssistantPart,
    DeveloperMessage,
    FilePart,
    FileRef,
    ImagePart,
    ImageURL,
    Message,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolPart,
    UserMessage,
    UserPart,
)
from gateway.contracts.openai_responses import (
    ContentPart,
    InputFile,
    InputImage,
    InputText,
    MessageItem,
    OutputText,
    RefusalContent,
)
from workers.providers.base import ConversionError


def assistant_content(content: str | list[ContentPart], where: str) -> str | list[AssistantPart]:
    if isinstance(content, str):
        return content
    parts: list[AssistantPart] = []
    for j, part in enumerate(content):
        match part:
            case OutputText(text=text) | InputText(text=text):
                parts.append(TextPart(text=text))
            case RefusalContent(refusal=refusal):
                parts.append(RefusalPart(refusal=refusal))
            case _:
                raise ConversionError(f"An assistant message cannot hold '{type(part).__name__}'.",
                                      f"{where}.content[{j}]")
    return parts


def caller_message(item: MessageItem, where: str) -> Message:
    if item.role == "user":
        return UserMessage(content=item.content if isinstance(item.content, str) else
                           [_user_part(p, f"{where}.content[{j}]") for j, p in enumerate(item.content)])
    text: str | list[TextPart] = item.content if isinstance(item.content, str) else [
        _text_part(p, f"{where}.content[{j}]") for j, p in enumerate(item.content)
    ]
    return SystemMessage(content=text) if item.role == "system" else DeveloperMessage(content=text)


def _text_part(part: ContentPart, where: str) -> TextPart:
    if isinstance(part, InputText | OutputText):
        return TextPart(text=part.text)
    raise ConversionError("Only text parts are allowed here.", where)


def _user_part(part: ContentPart, where: str) -> UserPart:
    match part:
        case InputText(text=text) | OutputText(text=text):
            return TextPart(text=text)
        case InputImage(image_url=str(url)):
            # NOTE: chat has no "original" detail; "high" is its full-resolution level.
            detail = "high" if part.detail == "original" else part.detail
            return ImagePart(ImageURL(url=url, detail=UNSET if detail is None else detail))
        case InputImage():
            raise ConversionError("An input_image needs an image_url (an https or data URL) on this route.",
                                  f"{where}.image_url")
        case InputFile(file_url=str()):
            raise ConversionError("input_file by file_url is not supported; send file_data.", f"{where}.file_url")
        case InputFile():
            file_id = part.file_id if isinstance(part.file_id, str) else UNSET
            return FilePart(FileRef(file_data=part.file_data, file_id=file_id, filename=part.filename))
        case RefusalContent():
            raise ConversionError("A refusal part belongs to an assistant message.", where)
    raise ConversionError("Unsupported content part.", where)  # pragma: no cover - exhaustive above


def tool_output(output: str | list[ContentPart], where: str,
                split: bool) -> tuple[str | list[ToolPart], list[tuple[UserPart, str]]]:
    """A tool output as the tool message's content; with `split`, its text only, and its
    other parts (images, files) apart with their places."""
    if isinstance(output, str):
        return output, []
    kept: list[ToolPart] = []
    attached: list[tuple[UserPart, str]] = []
    for j, part in enumerate(output):
        at = f"{where}.output[{j}]"
        converted = _user_part(part, at)
        if isinstance(converted, TextPart) or (not split and isinstance(converted, ImagePart | FilePart)):
            kept.append(converted)
        else:
            attached.append((converted, at))
    return (kept if kept or not attached else ""), attached
