"""Documents (PDF, text, office files) as each wire format carries them, checked as the real providers check them.

Each format's check answers the message the provider gives for a malformed document (None when it is well
formed), and ``describe`` is what the simulated model "reads" of one: its name, type and size, placed in the
prompt's text so an answer shows that the document arrived whole.

- Anthropic (Messages on Anthropic, Bedrock InvokeModel, Vertex): a ``document`` block whose ``source`` is
  ``base64`` (``media_type`` ``application/pdf``, the data a PDF), ``text`` (``media_type`` ``text/plain``),
  ``url``, ``file`` or ``content`` (anthropic-sdk-python ``DocumentBlockParam``).
- Bedrock Converse: ``{"document": {"format", "name", "source": {"bytes"}}}``, ``format`` one of Converse's
  ``DocumentFormat`` values and ``name`` only letters, digits, single spaces, hyphens, parentheses and square
  brackets (botocore's bedrock-runtime model, ``DocumentBlock``), each name once in a request.
- Gemini: ``{"inlineData": {"mimeType", "data"}}`` (or ``inline_data`` / ``mime_type``), base64 data of a type
  Gemini reads (images, audio, video, PDF, text).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

PDF_MAGIC = b"%PDF-"
CONVERSE_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
CONVERSE_NAME = re.compile(r"^(?:[A-Za-z0-9\-()\[\]]|\s(?!\s))+$")
GEMINI_TYPES = ("image/", "audio/", "video/", "text/", "application/pdf")


def describe(name: str, media_type: str, size: int) -> str:
    return f"[document {name} {media_type} {size} bytes]"


def _decoded(data: Any) -> bytes | None:
    if not isinstance(data, str) or not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def anthropic_problem(block: dict[str, Any], where: str) -> str | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return f"{where}.source: Field required"
    kind = source.get("type")
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            return f"{where}.source.base64.media_type: Input should be 'application/pdf'"
        decoded = _decoded(source.get("data"))
        if decoded is None or not decoded.startswith(PDF_MAGIC):
            return "The PDF specified was not valid."
        return None
    if kind == "text":
        if source.get("media_type") != "text/plain":
            return f"{where}.source.text.media_type: Input should be 'text/plain'"
        return None if isinstance(source.get("data"), str) else f"{where}.source.text.data: Field required"
    if kind in ("url", "file", "content"):
        return None
    return f"{where}.source: Input tag {kind!r} found using 'type' does not match any of the expected tags"


def anthropic_text(block: dict[str, Any]) -> str:
    given = block.get("source")
    source: dict[str, Any] = given if isinstance(given, dict) else {}
    name = str(block.get("title") or "untitled")
    if source.get("type") == "base64":
        return describe(name, "application/pdf", len(_decoded(source.get("data")) or b""))
    if source.get("type") == "text":
        return describe(name, "text/plain", len(str(source.get("data", "")).encode()))
    return describe(name, str(source.get("type")), 0)


def converse_problem(document: Any, where: str, names: set[str]) -> str | None:
    """``names``: the document names met so far in the request (this one is added): a repeat is refused."""
    prefix = "1 validation error detected: Value at"
    if not isinstance(document, dict):
        return f"{prefix} '{where}' failed to satisfy constraint: Member must not be null"
    if document.get("format") not in CONVERSE_FORMATS:
        values = ", ".join(CONVERSE_FORMATS)
        return f"{prefix} '{where}.format' failed to satisfy constraint: Member must satisfy enum value set: [{values}]"
    name = document.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 200 or not CONVERSE_NAME.fullmatch(name):
        return (
            "The document name can only contain alphanumeric characters, whitespace characters, hyphens, "
            "parentheses, and square brackets. The name can't contain more than one consecutive whitespace character."
        )
    if name.lower() in names:
        return "Messages can't contain duplicate document names. Rename the document and retry your request."
    names.add(name.lower())
    source = document.get("source")
    if not isinstance(source, dict) or len(source) != 1:
        return f"{prefix} '{where}.source' failed to satisfy constraint: exactly one member must be set"
    if "bytes" in source and not _decoded(source["bytes"]):
        return f"{prefix} '{where}.source.bytes' failed to satisfy constraint: Member must be base64-encoded bytes"
    return None


def converse_text(document: dict[str, Any]) -> str:
    source = document.get("source") or {}
    size = len(_decoded(source.get("bytes")) or b"")
    return describe(str(document.get("name")), str(document.get("format")), size)


def gemini_inline(part: dict[str, Any]) -> dict[str, Any] | None:
    found = part.get("inlineData", part.get("inline_data"))
    return found if isinstance(found, dict) else None


def gemini_problem(inline: dict[str, Any], where: str) -> str | None:
    mime = inline.get("mimeType", inline.get("mime_type"))
    if not isinstance(mime, str) or not mime.startswith(GEMINI_TYPES):
        return f"Unsupported MIME type: {mime}"
    decoded = _decoded(inline.get("data"))
    if decoded is None:
        return f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
    if mime == "application/pdf" and not decoded.startswith(PDF_MAGIC):
        return "The document has no pages."
    return None


def gemini_text(inline: dict[str, Any]) -> str:
    """A document's description; an image is seen, not read (empty)."""
    mime = str(inline.get("mimeType", inline.get("mime_type")))
    if mime.startswith("image/"):
        return ""
    return describe("inline", mime, len(_decoded(inline.get("data")) or b""))
