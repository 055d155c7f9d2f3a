"""POST /v1/messages through the HTTP API with the official anthropic SDK, against the simulator."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.conftest import Gateway

CLAUDE = "anthropic/claude-sonnet-4.5"


@pytest.fixture
def client(api: Any, gateway: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=api.url, api_key=gateway.api_key, max_retries=0, timeout=20)


def test_smoke(client: anthropic.Anthropic, gateway: Gateway) -> None:
    message = client.messages.create(
        model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    )
    print(message)
    print([r.to_dict() for r in gateway.sim.requests])
    assert message.content[0].type == "text"
