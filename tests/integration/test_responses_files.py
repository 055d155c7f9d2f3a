"""Files in /v1/responses input (``input_file``), through the HTTP API with the openai SDK, against the simulator.

An inline file reaches each translated provider as that provider's own document input (Anthropic's ``document``
block on Anthropic and Vertex, Converse's ``document`` on Bedrock, Gemini's ``inlineData``), which the simulator
checks as the real provider does and "reads" (its answer names the document's size). OpenAI gets the item as
sent; a file id, which only OpenAI's Files store knows, is served by OpenAI and is a 400 naming it elsewhere.
"""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from tests.conftest import Gateway
from tests.integration.test_responses import IDS, TARGETS, client, only, upstream

__all__ = ["client"]  # the fixture, shared with test_responses

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PDF_B64 = base64.b64encode(PDF).decode()
NOTES = "Meeting notes: ship on Friday."


def file_input(part: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "input_text", "text": "Summarise this"}, part]}]


def sent_document(gateway: Gateway, provider: str) -> Any:
    """The document as the provider received it: the user turn's part that is not its text."""
    body = upstream(gateway, provider)[-1].json
    if provider in ("google-ai-studio", "google-vertex") and "contents" in body:
        return next(p for p in body["contents"][-1]["parts"] if "text" not in p)
    return next(b for b in body["messages"][-1]["content"] if b.get("type", "x") != "text" and "text" not in b)


@pytest.mark.parametrize(("model", "provider"), TARGETS, ids=IDS)
def test_an_inline_pdf_reaches_every_provider_as_its_own_document(
    client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    # Given a PDF sent inline as a data: URL, with its name
    part = {
        "type": "input_file",
        "filename": "Q3 report_final.pdf",
        "file_data": f"data:application/pdf;base64,{PDF_B64}",
    }
    if provider == "deepseek":  # Then a provider with no file input says so, naming the part
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model=model, input=file_input(part), extra_body=only(provider))  # type: ignore[arg-type]
        assert "no file input" in refused.value.message and "content" in str(refused.value.body)
        return

    # When it is sent to each provider
    response = client.responses.create(model=model, input=file_input(part), extra_body=only(provider))  # type: ignore[arg-type]

    # Then the provider got it as its own document input, whole, and the model read it
    assert response.status == "completed"
    if provider == "openai":
        assert upstream(gateway, provider)[-1].json["input"][0]["content"][1] == part
        return
    document = sent_document(gateway, provider)
    if model.startswith("anthropic/") and provider != "amazon-bedrock":
        source = {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}
        assert document == {"type": "document", "source": source, "title": "Q3 report_final.pdf"}
    elif provider == "amazon-bedrock":
        assert document == {"document": {"format": "pdf", "name": "Q3 report final", "source": {"bytes": PDF_B64}}}
    else:
        assert document == {"inlineData": {"mimeType": "application/pdf", "data": PDF_B64}}
    assert f"{len(PDF)} bytes" in response.output_text


@pytest.mark.parametrize(("model", "provider"), TARGETS[1:-1], ids=IDS[1:-1])
def test_a_text_file_as_bare_base64_is_typed_by_its_name(
    client: openai.OpenAI, gateway: Gateway, model: str, provider: str
) -> None:
    encoded = base64.b64encode(NOTES.encode()).decode()
    part = {"type": "input_file", "filename": "notes.txt", "file_data": encoded}
    with client.responses.stream(model=model, input=file_input(part), extra_body=only(provider)) as stream:  # type: ignore[arg-type]
        final = stream.get_final_response()
    assert final.status == "completed" and f"{len(NOTES)} bytes" in final.output_text
    document = sent_document(gateway, provider)
    if model.startswith("anthropic/") and provider != "amazon-bedrock":  # Claude takes plain text as text
        assert document["source"] == {"type": "text", "media_type": "text/plain", "data": NOTES}
    elif provider == "amazon-bedrock":
        assert document["document"]["format"] == "txt" and document["document"]["source"] == {"bytes": encoded}
    else:
        assert document == {"inlineData": {"mimeType": "text/plain", "data": encoded}}


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_file", "filename": "blob.unknownext", "file_data": PDF_B64},
        {"type": "input_file", "filename": "r.pdf", "file_data": f"data:application/pdf;charset=x,{PDF_B64}"},
    ],
)
def test_a_file_whose_type_cannot_be_told_is_a_400_naming_file_data(client: openai.OpenAI, part: Any) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="google/gemini-3-flash", input=file_input(part))
    body = refused.value.body
    assert isinstance(body, dict) and body["param"].endswith("file.file_data") and "data: URL" in body["message"]


def test_a_document_type_claude_cannot_read_is_a_400_naming_the_part(client: openai.OpenAI) -> None:
    data = base64.b64encode(b"a,b\n1,2\n").decode()
    part = {"type": "input_file", "filename": "t.csv", "file_data": f"data:text/csv;base64,{data}"}
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="anthropic/claude-sonnet-4.5", input=file_input(part), extra_body=only("anthropic")
        )  # type: ignore[arg-type]
    assert "PDF and plain-text" in refused.value.message and "text/csv" in refused.value.message


def test_a_file_id_is_served_by_openai_and_refused_where_only_others_serve(
    client: openai.OpenAI, gateway: Gateway
) -> None:
    part = {"type": "input_file", "file_id": "file-abc123"}
    # An OpenAI model takes the id to OpenAI, which knows its Files store
    response = client.responses.create(model="openai/gpt-5-mini", input=file_input(part))  # type: ignore[arg-type]
    assert response.status == "completed"
    assert upstream(gateway, "openai")[-1].json["input"][0]["content"][1] == part

    # With a translated model first and an OpenAI one as fallback, OpenAI serves it
    response = client.responses.create(
        model="anthropic/claude-sonnet-4.5",
        input=file_input(part),  # type: ignore[arg-type]
        extra_body={"models": ["openai/gpt-5-mini"]},
    )
    assert response.model == "openai/gpt-5-mini"

    # A model no OpenAI offer serves: a 400 naming the field and why
    calls = len(gateway.sim.requests)
    for given in (part, {"type": "input_image", "file_id": "file-img42", "detail": "auto"}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model="anthropic/claude-sonnet-4.5", input=file_input(given))  # type: ignore[arg-type]
        body = refused.value.body
        assert isinstance(body, dict) and body["param"] == "input.0.content.1.file_id", body
        assert "OpenAI's Files store" in body["message"]
    assert len(gateway.sim.requests) == calls  # refused before any upstream call


def test_chat_completions_file_parts_take_the_same_path(client: openai.OpenAI, gateway: Gateway) -> None:
    file = {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}
    content: Any = [{"type": "text", "text": "Summarise this"}, {"type": "file", "file": file}]
    answer = client.chat.completions.create(
        model="anthropic/claude-sonnet-4.5",
        messages=[{"role": "user", "content": content}],
        extra_body=only("amazon-bedrock"),
    )
    assert f"{len(PDF)} bytes" in (answer.choices[0].message.content or "")
    assert sent_document(gateway, "amazon-bedrock")["document"]["name"] == "report"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="anthropic/claude-sonnet-4.5",
            messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}],
            extra_body=only("anthropic"),
        )
    assert "OpenAI's Files store" in refused.value.message


def test_two_files_of_one_name_reach_bedrock_with_names_it_accepts(client: openai.OpenAI, gateway: Gateway) -> None:
    # Given the same file name in two turns of one conversation (Converse refuses a name twice in a request)
    part = {"type": "input_file", "filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}
    first = client.responses.create(
        model="anthropic/claude-sonnet-4.5",
        input=file_input(part),
        extra_body=only("amazon-bedrock"),  # type: ignore[arg-type]
    )
    second = client.responses.create(
        model="anthropic/claude-sonnet-4.5",
        input=file_input(part),  # type: ignore[arg-type]
        previous_response_id=first.id,
        extra_body=only("amazon-bedrock"),
    )
    assert second.status == "completed"
    body = upstream(gateway, "amazon-bedrock")[-1].json
    names = [b["document"]["name"] for m in body["messages"] for b in m["content"] if "document" in b]
    assert names == ["report", "report (2)"]
