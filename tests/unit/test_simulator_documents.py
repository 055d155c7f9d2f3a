"""The simulator checks documents as the providers do: Anthropic's ``document`` block, Converse's ``document``,
Gemini's ``inlineData``; a well-formed one is read (the answer names its size), a malformed one is a 400."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from local.simulator import anthropic_format, bedrock_format, gemini_format

PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
NOT_PDF = base64.b64encode(b"hello").decode()


def anthropic(document: dict[str, Any]) -> tuple[int, str]:
    content = [{"type": "text", "text": "read"}, document]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": content}]}
    reply = anthropic_format.handle_messages(body, "anthropic")
    return reply.status, reply.body.decode() if isinstance(reply.body, bytes) else str(reply.body)


def converse(document: dict[str, Any], *others: dict[str, Any]) -> tuple[int, str]:
    content = [{"text": "read"}, {"document": document}, *({"document": other} for other in others)]
    body = {"messages": [{"role": "user", "content": content}]}
    reply = bedrock_format.handle_converse(body, "anthropic.claude-sonnet-4-5", False)
    return reply.status, reply.body.decode() if isinstance(reply.body, bytes) else str(reply.body)


def gemini(inline: dict[str, Any]) -> tuple[int, str]:
    body = {"contents": [{"role": "user", "parts": [{"text": "read"}, {"inlineData": inline}]}]}
    reply = gemini_format.handle_generate(body, "google-ai-studio", "gemini-3-flash", False, False)
    return reply.status, reply.body.decode() if isinstance(reply.body, bytes) else str(reply.body)


def test_well_formed_documents_are_read() -> None:
    source = {"type": "base64", "media_type": "application/pdf", "data": PDF}
    status, body = anthropic({"type": "document", "source": source, "title": "r.pdf"})
    assert status == 200 and "15 bytes" in body
    status, body = anthropic(
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "abc"}}
    )
    assert status == 200 and "3 bytes" in body
    status, body = converse({"format": "pdf", "name": "Q3 report (v2)", "source": {"bytes": PDF}})
    assert status == 200 and "15 bytes" in body
    status, body = gemini({"mimeType": "application/pdf", "data": PDF})
    assert status == 200 and "15 bytes" in body


@pytest.mark.parametrize(
    ("send", "document", "says"),
    [
        (
            anthropic,
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": NOT_PDF}},
            "PDF specified was not valid",
        ),
        (
            anthropic,
            {"type": "document", "source": {"type": "base64", "media_type": "text/csv", "data": PDF}},
            "application/pdf",
        ),
        (
            anthropic,
            {"type": "document", "source": {"type": "text", "media_type": "text/csv", "data": "a"}},
            "text/plain",
        ),
        (converse, {"format": "pdf", "name": "report_final.pdf", "source": {"bytes": PDF}}, "document name"),
        (converse, {"format": "pdf", "name": "two  spaces", "source": {"bytes": PDF}}, "document name"),
        (converse, {"format": "pptx", "name": "deck", "source": {"bytes": PDF}}, "enum value set"),
        (converse, {"format": "pdf", "name": "r", "source": {"bytes": "not base64!"}}, "base64"),
        (gemini, {"mimeType": "application/pdf", "data": "not base64!"}, "Base64 decoding failed"),
        (gemini, {"mimeType": "application/zip", "data": PDF}, "Unsupported MIME type"),
    ],
)
def test_malformed_documents_are_refused(send: Any, document: dict[str, Any], says: str) -> None:
    status, body = send(document)
    assert status == 400 and says in json.loads(body).__repr__(), body


def test_converse_refuses_two_documents_of_one_name() -> None:
    report = {"format": "pdf", "name": "Report", "source": {"bytes": PDF}}
    status, body = converse(report, {**report, "name": "report"})
    assert status == 400 and "duplicate document names" in body
    assert converse(report, {**report, "name": "report (2)"})[0] == 200
