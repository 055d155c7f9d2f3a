"""The fault matrix: every upstream failure, for every provider, through the HTTP API and the simulator.

For each fault the properties a customer relies on are checked end to end: the documented fallback happens
(or, after the first streamed delta, does not), the customer gets the documented status, every attempt is in
the request record with its outcome, status and credential, and the upstream calls went out in plan order.
Streams that break after their first delta are in ``test_streaming.py``.
AWS-side faults (KMS, DynamoDB) are in ``test_faults_aws.py``.

The stack (moto tables and KMS key, platform credentials, the HTTP API) is built once per module: each test
gets a fresh customer instead, so it sees no other test's keys, logs or credits.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest
from moto import mock_aws

from gateway.apis import admin
from gateway.core import settings
from gateway.data import accounts
from gateway.providers import google_oauth
from local.seed import PLATFORM_API_KEYS, PLATFORM_AWS, PLATFORM_PROJECT
from local.simulator import ProviderSimulator
from local.simulator.dispatch import ECHOED_HEADERS
from tests.conftest import AWS_TEST_ENV, Customer, Gateway, configure, forget_routing_signals, reset_process_state
from tests.integration.helpers import add_key, byok_credentials, credential_id, get_log

MESSAGES: Any = [{"role": "user", "content": "Say hello"}]
PLATFORM_CREDENTIAL = {
    **PLATFORM_API_KEYS,
    "amazon-bedrock": PLATFORM_AWS["accessKeyId"],
    "google-vertex": f"gateway@{PLATFORM_PROJECT}.iam.gserviceaccount.com",
}
# One route per provider, and Vertex once per wire format it speaks (Gemini, Anthropic, OpenAI-compatible).
ROUTES = [
    ("openai", "openai/gpt-5-mini"),
    ("deepseek", "deepseek/deepseek-v3.2"),
    ("anthropic", "anthropic/claude-sonnet-4.5"),
    ("amazon-bedrock", "anthropic/claude-sonnet-4.5"),
    ("google-ai-studio", "google/gemini-3-flash"),
    ("google-vertex", "google/gemini-3-flash"),
    ("google-vertex", "anthropic/claude-sonnet-4.5"),
    ("google-vertex", "deepseek/deepseek-v3.2"),
]
# Room for a Vertex token fetch (an RSA signature) and the call on a loaded machine; timeouts park longer.
ATTEMPT_TIMEOUT_MS = "2000"
SLOW_UPSTREAM_S = 2.5  # above the attempt cap
UPSTREAM_SILENT_S = 6.0  # far above a request deadline of 1 s
# fault armed on the BYOK credential -> (attempt outcome, attempt status_code) in the request record
FAULTS: dict[str, tuple[dict[str, Any], str, int | None]] = {
    "429": ({"status": 429}, "error", 429),
    "500": ({"status": 500}, "error", 500),
    "503": ({"status": 503}, "error", 503),
    # the provider quotes back every auth header it got (API key, SigV4 header and session token, OAuth token)
    "401_quoting_the_credentials": ({"status": 401, "echo_credentials": True}, "error", 401),
    "timeout": ({"mode": "timeout", "delay": SLOW_UPSTREAM_S}, "timeout", None),
    "refused": ({"mode": "refuse"}, "connection_error", None),
    "dropped_mid_body": ({"mode": "drop_mid_body"}, "connection_error", None),
    "garbage_json": ({"mode": "garbage"}, "error", 200),
    "wrong_content_type": ({"mode": "wrong_content_type"}, "error", 200),
    "401_on_byok_key": ({"status": 401}, "error", 401),
}


# --- fixtures: one stack per module, one customer per test -------------------------------------------------


@pytest.fixture(scope="module")
def stack(sim: ProviderSimulator) -> Iterator[Any]:
    from local.apiserver import ApiServer
    from local.provision import provision
    from local.seed import seed_platform

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE":
                mp.delenv(name)
        for name, value in AWS_TEST_ENV.items():
            mp.setenv(name, value)
        with mock_aws():
            reset_process_state()
            env = {
                **provision(stage="test").environment(),
                **sim.upstream_env(),
                "STAGE": "test",
                "REQUEST_DEADLINE_MS": "8000",
                "POWERTOOLS_METRICS_NAMESPACE": "ByokGateway",
                "POWERTOOLS_SERVICE_NAME": "byok-gateway",
            }
            for name, value in env.items():
                mp.setenv(name, value)
            reset_process_state()
            seed_platform(sim)
            server = ApiServer(host="127.0.0.1", port=0).start()
            yield server
            server.stop()
        reset_process_state()


@pytest.fixture
def api(stack: Any) -> Any:
    return stack


@pytest.fixture
def gateway(stack: Any, sim: ProviderSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """A fresh customer with 10 USD on the module's stack; faults, recorded calls and settings start clean."""
    sim.clear_faults()
    sim.clear_pacing()
    sim.clear_requests()
    google_oauth.reset()
    settings.get_settings.cache_clear()
    forget_routing_signals()  # one test's faults must not reorder the next one's plan
    account, api_key = admin.create_account("fault customer", Decimal("10"))
    yield Gateway(sim=sim, env={}, customer=Customer(account.account_id, api_key))
    sim.clear_faults()
    settings.get_settings.cache_clear()  # configure() changed it; monkeypatch restores the environment after


@pytest.fixture
def openai_client(api: Any, gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=gateway.api_key, max_retries=0, timeout=20)


# --- helpers ------------------------------------------------------------------------------------------------


def create(client: openai.OpenAI, model: str, provider: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, extra_body={"provider": provider} if provider else None, **kwargs
    )


_byok_credentials: dict[str, Any] = {}


def customer_credentials(sim: ProviderSimulator, provider: str) -> Any:
    """``byok_credentials`` made once per provider: a service account costs an RSA key generation."""
    if provider not in _byok_credentials:
        _byok_credentials[provider] = byok_credentials(sim, provider)
    return _byok_credentials[provider]


def balance(account_id: str) -> Decimal:
    snapshot = accounts.load_account(account_id)
    assert snapshot is not None
    return snapshot.account.credits


def upstream_credentials(sim: ProviderSimulator, provider: str, expected: int, wait_s: float = 0.0) -> list[Any]:
    """The credentials of the calls ``provider`` received, once ``expected`` of them are recorded.

    The simulator records a call when it answers, so a call parked in a timeout fault shows up late, up to
    ``wait_s`` seconds on. (The ``settled_simulator`` fixture ends a call still parked when the test ends.)"""
    give_up = time.monotonic() + wait_s
    while True:
        calls = [r.credential for r in sim.requests if r.provider == provider]
        if len(calls) >= expected or time.monotonic() > give_up:
            return calls
        time.sleep(0.05)


def sent_auth_values(sim: ProviderSimulator, credential: str) -> list[str]:
    """The auth header values (bearer token alone too) of the upstream calls made with ``credential``."""
    values = []
    for request in sim.requests:
        if request.credential == credential:
            for name in ECHOED_HEADERS:
                value = request.headers.get(name)
                if value:
                    values += [value, value.removeprefix("Bearer ")]
    return values


def assert_no_secret(text: str, *secrets: Any) -> None:
    for secret in secrets:
        values = secret.values() if isinstance(secret, dict) else [secret]
        for value in values:
            if isinstance(value, str) and len(value) > 12 and "@" not in value:
                assert value not in text


# --- the matrix: a failing BYOK key falls back to shared capacity -------------------------------------------


@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest.mark.parametrize(("provider", "model"), ROUTES)
def test_byok_fault_falls_back_to_shared_capacity_of_the_same_provider(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
    fault_name: str,
) -> None:
    fault, outcome, status_code = FAULTS[fault_name]
    configure(monkeypatch, ATTEMPT_TIMEOUT_MS=ATTEMPT_TIMEOUT_MS)
    credentials = customer_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.fail(provider, credential=credential_id(credentials), times=1, **fault)
    before = balance(gateway.customer.account_id)

    raw = create(openai_client, model, provider={"only": [provider]})

    completion = raw.parse()
    assert raw.status_code == 200
    assert completion.model_extra["provider"] == provider
    assert completion.usage.model_extra["is_byok"] is False
    cost = Decimal(str(completion.usage.model_extra["cost"]))
    assert cost > 0
    assert balance(gateway.customer.account_id) == pytest.approx(before - cost)
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert (record["status"], record["http_status"], record["provider"], record["is_byok"]) == (
        "success",
        200,
        provider,
        False,
    )
    byok, shared = record["attempts"]
    assert (byok["attempt"], byok["provider"], byok["credential"], byok["key_id"]) == (1, provider, "byok", key["id"])
    assert (byok["outcome"], byok["status_code"]) == (outcome, status_code)
    assert byok["error"]
    assert_no_secret(json.dumps(record), credentials, *sent_auth_values(gateway.sim, credential_id(credentials)))
    assert (shared["attempt"], shared["credential"], shared["key_id"], shared["outcome"], shared["status_code"]) == (
        2,
        "shared",
        None,
        "success",
        200,
    )
    calls = upstream_credentials(gateway.sim, provider, 2, wait_s=SLOW_UPSTREAM_S + 2)
    if fault_name == "timeout":  # the parked BYOK call is recorded when the simulator finally answers it
        assert sorted(calls) == sorted([credential_id(credentials), PLATFORM_CREDENTIAL[provider]])
    else:
        assert calls == [credential_id(credentials), PLATFORM_CREDENTIAL[provider]]


@pytest.mark.parametrize(("provider", "model"), ROUTES)
def test_byok_key_the_provider_rejects_falls_back(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, provider: str, model: str
) -> None:
    """A key the provider itself does not know (revoked, mistyped): its own 401/403, or the token endpoint's."""
    credentials = customer_credentials(gateway.sim, provider)
    if isinstance(credentials, dict) and "client_email" in credentials:
        credentials = {**credentials, "client_email": "revoked@byok-customer-proj.iam.gserviceaccount.com"}
    elif isinstance(credentials, dict):
        credentials = {**credentials, "secretAccessKey": "revokedSecretAccessKey000000000000000000"}
    else:
        credentials = credentials + "revoked"
    key = add_key(api.url, gateway.api_key, provider, credentials)

    raw = create(openai_client, model, provider={"only": [provider]})

    assert raw.parse().usage.model_extra["is_byok"] is False
    byok, shared = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])["attempts"]
    assert (byok["credential"], byok["key_id"], byok["outcome"]) == ("byok", key["id"], "error")
    assert byok["status_code"] in (400, 401, 403)  # Google's token endpoint says 400 invalid_grant
    assert (shared["credential"], shared["outcome"]) == ("shared", "success")


# --- the provider's own words for "this key is dead" --------------------------------------------------------

AI_STUDIO_API_KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    }
}
ANTHROPIC_CREDIT_BALANCE_TOO_LOW = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
    },
}


@pytest.mark.parametrize(
    ("provider", "model", "body"),
    [
        ("google-ai-studio", "google/gemini-3-flash", AI_STUDIO_API_KEY_INVALID),
        ("anthropic", "anthropic/claude-sonnet-4.5", ANTHROPIC_CREDIT_BALANCE_TOO_LOW),
    ],
)
def test_a_400_that_is_about_the_key_moves_on(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, provider: str, model: str, body: dict[str, Any]
) -> None:
    credentials = customer_credentials(gateway.sim, provider)
    add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.fail(provider, status=400, credential=credentials, body=json.dumps(body))

    raw = create(openai_client, model, provider={"only": [provider]})

    assert raw.parse().usage.model_extra["is_byok"] is False
    byok, shared = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])["attempts"]
    assert (byok["status_code"], byok["outcome"]) == (400, "error")  # recorded as the provider said it
    assert body["error"]["message"][:20] in byok["error"]
    assert shared["outcome"] == "success"


def test_a_400_about_the_request_still_ends_it(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    credentials = customer_credentials(gateway.sim, "google-ai-studio")
    add_key(api.url, gateway.api_key, "google-ai-studio", credentials)
    gateway.sim.fail("google-ai-studio", status=400, credential=credentials)

    with pytest.raises(openai.BadRequestError) as err:
        create(openai_client, "google/gemini-3-flash", provider={"only": ["google-ai-studio"]})

    assert [r.credential for r in gateway.sim.requests] == [credentials]
    record = get_log(api.url, gateway.api_key, err.value.response.headers["x-request-id"])
    assert (record["status"], record["http_status"], len(record["attempts"])) == ("error", 400, 1)


# --- streaming: fallback until the first delta -------------------------------------------------------------

STREAM_ROUTES = [
    ("openai", "openai/gpt-5-mini"),
    ("deepseek", "deepseek/deepseek-v3.2"),
    ("anthropic", "anthropic/claude-sonnet-4.5"),
    ("amazon-bedrock", "anthropic/claude-sonnet-4.5"),
    ("google-ai-studio", "google/gemini-3-flash"),
    ("google-vertex", "google/gemini-3-flash"),
    ("google-vertex", "anthropic/claude-sonnet-4.5"),
]


@pytest.mark.parametrize(
    ("fault", "outcome", "status_code"),
    [({"mode": "drop"}, "connection_error", None), ({"status": 503}, "error", 503)],
    ids=["dropped_before_first_chunk", "503"],
)
@pytest.mark.parametrize(("provider", "model"), STREAM_ROUTES)
def test_stream_failing_before_the_first_chunk_falls_back(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    provider: str,
    model: str,
    fault: dict[str, Any],
    outcome: str,
    status_code: int | None,
) -> None:
    credentials = customer_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.fail(provider, credential=credential_id(credentials), **fault)

    raw = openai_client.chat.completions.with_raw_response.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"provider": {"only": [provider]}},
    )
    chunks = list(raw.parse())

    assert f"Hello from {provider}" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.model_extra["is_byok"] is False
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert (record["status"], record["is_byok"]) == ("success", False)
    byok, shared = record["attempts"]
    assert (byok["key_id"], byok["outcome"], byok["status_code"]) == (key["id"], outcome, status_code)
    assert (shared["credential"], shared["outcome"]) == ("shared", "success")
    assert upstream_credentials(gateway.sim, provider, 2) == [credential_id(credentials), PLATFORM_CREDENTIAL[provider]]


# Gemini's first event already carries text: a cut after it is a break after the commit (test_streaming.py).
PREAMBLE_ROUTES = [(p, m) for p, m in STREAM_ROUTES if not (m.startswith("google/") and p.startswith("google"))]


@pytest.mark.parametrize(("provider", "model"), PREAMBLE_ROUTES)
def test_stream_cut_after_its_first_event_still_falls_back(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, provider: str, model: str
) -> None:
    """The first event (a role chunk, ``message_start``, ``messageStart``) is no delta yet: nothing has been
    committed to the client, so the cut attempt falls back like any other failure."""
    credentials = customer_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.fail(provider, mode="drop_mid_body", credential=credential_id(credentials))

    raw = openai_client.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, stream=True, extra_body={"provider": {"only": [provider]}}
    )
    chunks = list(raw.parse())

    assert raw.status_code == 200
    assert f"Hello from {provider}" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert (record["status"], record["is_byok"], record["provider"]) == ("success", False, provider)
    byok, shared = record["attempts"]
    assert (byok["key_id"], byok["outcome"], shared["outcome"]) == (key["id"], "connection_error", "success")
    assert upstream_credentials(gateway.sim, provider, 2) == [credential_id(credentials), PLATFORM_CREDENTIAL[provider]]


# --- every attempt fails: the documented status, the whole story in the record ------------------------------

CLAUDE_PROVIDERS = ("anthropic", "amazon-bedrock", "google-vertex")


def _cut_after_sending(fault: dict[str, Any]) -> bool:
    return fault.get("mode") in ("timeout", "drop_mid_body")


@pytest.mark.parametrize(
    ("faults", "status", "outcomes"),
    [
        (
            [{"status": 500}, {"status": 503}, {"status": 429}],
            429,
            [("error", 500), ("error", 503), ("error", 429)],
        ),
        (
            [{"status": 429}, {"mode": "refuse"}, {"mode": "timeout", "delay": SLOW_UPSTREAM_S}],
            504,
            [("error", 429), ("connection_error", None), ("timeout", None)],
        ),
        (
            [{"mode": "timeout", "delay": SLOW_UPSTREAM_S}, {"status": 429}, {"mode": "garbage"}],
            502,
            [("timeout", None), ("error", 429), ("error", 200)],
        ),
        (
            [{"mode": "drop_mid_body"}, {"status": 401}, {"mode": "wrong_content_type"}],
            502,
            [("connection_error", None), ("error", 401), ("error", 200)],
        ),
    ],
    ids=["last_429", "last_timeout", "last_unreadable", "last_wrong_content_type"],
)
def test_all_attempts_failing_gives_the_documented_status(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    faults: list[dict[str, Any]],
    status: int,
    outcomes: list[tuple[str, int | None]],
) -> None:
    configure(monkeypatch, ATTEMPT_TIMEOUT_MS=ATTEMPT_TIMEOUT_MS)
    for provider, fault in zip(CLAUDE_PROVIDERS, faults, strict=True):
        gateway.sim.fail(provider, **fault)
    before = balance(gateway.customer.account_id)

    with pytest.raises(openai.APIStatusError) as err:
        create(openai_client, "anthropic/claude-sonnet-4.5")

    error: Any = err.value
    assert error.status_code == status
    assert error.body["type"] == "upstream_error" and error.body["code"] == "all_attempts_failed"
    message = error.body["message"]
    for provider, (outcome, code) in zip(CLAUDE_PROVIDERS, outcomes, strict=True):
        assert f"{provider} shared {code or outcome}" in message
    assert [(a["provider"], a["outcome"], a["status_code"]) for a in error.body["attempts"]] == [
        (p, o, c) for p, (o, c) in zip(CLAUDE_PROVIDERS, outcomes, strict=True)
    ]
    record = get_log(api.url, gateway.api_key, error.response.headers["x-request-id"])
    assert (record["status"], record["http_status"], record["provider"]) == ("error", status, None)
    assert [(a["attempt"], a["provider"], a["outcome"], a["status_code"]) for a in record["attempts"]] == [
        (n, p, o, c) for n, (p, (o, c)) in enumerate(zip(CLAUDE_PROVIDERS, outcomes, strict=True), start=1)
    ]
    # Only an attempt cut after the upstream had the prompt (a timeout, a body cut mid-answer) is billed, for its
    # prompt; error answers and a connection reset before any answer are free
    billed = [(a["outcome"], a["cost"] > 0) for a in record["attempts"] if a["cost"] > 0]
    assert billed == [(o, True) for (o, _), fault in zip(outcomes, faults, strict=True) if _cut_after_sending(fault)]
    assert record["cost"] == pytest.approx(sum(a["cost"] for a in record["attempts"]))
    assert balance(gateway.customer.account_id) == pytest.approx(before - Decimal(str(record["cost"])))


def test_the_request_deadline_bounds_every_attempt_together(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No attempt cap: the first slow attempt gets the whole deadline, and none is started after it."""
    configure(monkeypatch, REQUEST_DEADLINE_MS="1000")
    for provider in CLAUDE_PROVIDERS:
        gateway.sim.fail(provider, mode="timeout", delay=UPSTREAM_SILENT_S)
    started = time.monotonic()

    with pytest.raises(openai.APIStatusError) as err:
        create(openai_client, "anthropic/claude-sonnet-4.5")

    # The upstream stays silent far longer than the deadline: answering before it speaks proves the deadline
    # cut the attempt (a loaded machine may be slow, but never this slow).
    assert time.monotonic() - started < UPSTREAM_SILENT_S - 2
    assert err.value.status_code == 504
    record = get_log(api.url, gateway.api_key, err.value.response.headers["x-request-id"])
    assert record["http_status"] == 504
    assert [(a["provider"], a["outcome"]) for a in record["attempts"]] == [("anthropic", "timeout")]


# --- Google's token endpoint ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "outcome", "status_code"),
    [
        ({"status": 500}, "error", 500),
        ({"status": 503}, "error", 503),
        ({"mode": "timeout", "delay": SLOW_UPSTREAM_S}, "timeout", None),
        ({"mode": "refuse"}, "connection_error", None),
    ],
    ids=["500", "503", "timeout", "refused"],
)
def test_token_endpoint_failing_fails_the_vertex_byok_attempt_and_falls_back(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, Any],
    outcome: str,
    status_code: int | None,
) -> None:
    configure(monkeypatch, ATTEMPT_TIMEOUT_MS=ATTEMPT_TIMEOUT_MS)
    credentials = customer_credentials(gateway.sim, "google-vertex")
    key = add_key(api.url, gateway.api_key, "google-vertex", credentials)
    gateway.sim.fail("google-oauth", credential=credentials["client_email"], **fault)

    raw = create(openai_client, "google/gemini-3-flash", provider={"only": ["google-vertex"]})

    assert raw.parse().usage.model_extra["is_byok"] is False
    byok, shared = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])["attempts"]
    assert (byok["key_id"], byok["outcome"], byok["status_code"]) == (key["id"], outcome, status_code)
    assert "token endpoint" in byok["error"]
    assert (shared["credential"], shared["outcome"]) == ("shared", "success")
    # The BYOK attempt never reached Vertex: no model call without a token.
    assert upstream_credentials(gateway.sim, "google-vertex", 1) == [PLATFORM_CREDENTIAL["google-vertex"]]


def test_a_warm_request_reuses_the_vertex_token(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    credentials = customer_credentials(gateway.sim, "google-vertex")
    add_key(api.url, gateway.api_key, "google-vertex", credentials)

    for _ in range(2):
        completion = create(openai_client, "google/gemini-3-flash", provider={"only": ["google-vertex"]}).parse()
        assert completion.usage.model_extra["is_byok"] is True

    token_calls = [r for r in gateway.sim.requests if r.provider == "google-oauth"]
    assert [r.credential for r in token_calls] == [credentials["client_email"]]
    assert len([r for r in gateway.sim.requests if r.provider == "google-vertex"]) == 2


def test_token_endpoint_failure_is_not_cached(openai_client: openai.OpenAI, api: Any, gateway: Gateway) -> None:
    credentials = customer_credentials(gateway.sim, "google-vertex")
    add_key(api.url, gateway.api_key, "google-vertex", credentials)
    gateway.sim.fail("google-oauth", status=503, credential=credentials["client_email"], times=1)

    first = create(openai_client, "google/gemini-3-flash", provider={"only": ["google-vertex"]}).parse()
    second = create(openai_client, "google/gemini-3-flash", provider={"only": ["google-vertex"]}).parse()

    assert first.usage.model_extra["is_byok"] is False
    assert second.usage.model_extra["is_byok"] is True


# --- embeddings: the same matrix, where one attempt may be several upstream calls ---------------------------

# (provider, model, upstream calls for two inputs): Titan and Vertex's gemini-embedding-001 take one a call.
EMBEDDING_ROUTES = [
    ("openai", "openai/text-embedding-3-small", 1),
    ("google-ai-studio", "google/gemini-embedding-001", 1),
    ("google-vertex", "google/gemini-embedding-001", 2),
    ("amazon-bedrock", "amazon/titan-embed-text-v2", 2),
    ("amazon-bedrock", "cohere/embed-english-v3", 1),  # a list: one call
]
# A batch fans out into several calls (and a Vertex attempt fetches its token first): on a loaded machine they
# need more room than one chat call under ATTEMPT_TIMEOUT_MS, so the cap and the parked call are both longer.
EMBEDDINGS_ATTEMPT_TIMEOUT_MS = "2000"
EMBEDDINGS_SLOW_UPSTREAM_S = 2.5


@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest.mark.parametrize(("provider", "model", "calls"), EMBEDDING_ROUTES)
def test_an_embeddings_byok_fault_on_one_call_falls_back_to_shared_capacity(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
    calls: int,
    fault_name: str,
) -> None:
    fault, outcome, status_code = FAULTS[fault_name]
    if fault_name == "timeout":
        fault = {**fault, "delay": EMBEDDINGS_SLOW_UPSTREAM_S}
    configure(monkeypatch, ATTEMPT_TIMEOUT_MS=EMBEDDINGS_ATTEMPT_TIMEOUT_MS)
    credentials = customer_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.fail(provider, credential=credential_id(credentials), times=1, **fault)  # one call of the batch
    before = balance(gateway.customer.account_id)

    raw = openai_client.embeddings.with_raw_response.create(
        model=model, input=["first input", "second input"], extra_body={"provider": {"only": [provider]}}
    )

    answer = raw.parse()
    assert [item.index for item in answer.data] == [0, 1]
    usage = raw.http_response.json()["usage"]
    assert raw.headers["x-gateway-provider"] == provider and usage["is_byok"] is False and usage["cost"] > 0
    assert balance(gateway.customer.account_id) == pytest.approx(before - Decimal(str(usage["cost"])))
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert (record["api"], record["status"], record["provider"], record["is_byok"]) == (
        "embeddings",
        "success",
        provider,
        False,
    )
    byok, shared = record["attempts"]
    assert (byok["credential"], byok["key_id"], byok["outcome"], byok["status_code"]) == (
        "byok",
        key["id"],
        outcome,
        status_code,
    )
    assert (shared["credential"], shared["outcome"], shared["status_code"]) == ("shared", "success", 200)
    assert_no_secret(json.dumps(record), credentials, *sent_auth_values(gateway.sim, credential_id(credentials)))
    sent = upstream_credentials(gateway.sim, provider, 2 * calls, wait_s=EMBEDDINGS_SLOW_UPSTREAM_S + 2)
    # The shared attempt sent every call; the failed one may have stopped before sending all of its own.
    assert sent.count(PLATFORM_CREDENTIAL[provider]) == calls
    assert 1 <= sent.count(credential_id(credentials)) <= calls


def test_embeddings_all_attempts_failing_gives_the_documented_status(
    openai_client: openai.OpenAI, api: Any, gateway: Gateway
) -> None:
    gateway.sim.fail("google-ai-studio", status=503)
    gateway.sim.fail("google-vertex", status=429)
    before = balance(gateway.customer.account_id)

    with pytest.raises(openai.RateLimitError) as err:
        openai_client.embeddings.create(
            model="google/gemini-embedding-001",
            input="x",
            extra_body={"provider": {"order": ["google-ai-studio", "google-vertex"]}},
        )

    error: Any = err.value
    assert [(a["provider"], a["status_code"]) for a in error.body["attempts"]] == [
        ("google-ai-studio", 503),
        ("google-vertex", 429),
    ]
    record = get_log(api.url, gateway.api_key, error.response.headers["x-request-id"])
    assert (record["api"], record["status"], record["http_status"], record["cost"]) == ("embeddings", "error", 429, 0)
    assert balance(gateway.customer.account_id) == before


# --- the same matrix through /v1/responses (OpenAI natively, the rest translated) ----------------------------


@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest.mark.parametrize(("provider", "model"), ROUTES)
def test_responses_byok_fault_falls_back_to_shared_capacity(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
    fault_name: str,
) -> None:
    fault, outcome, status_code = FAULTS[fault_name]
    configure(monkeypatch, ATTEMPT_TIMEOUT_MS=ATTEMPT_TIMEOUT_MS)
    credentials = customer_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.fail(provider, credential=credential_id(credentials), times=1, **fault)
    before = balance(gateway.customer.account_id)

    raw = openai_client.responses.with_raw_response.create(
        model=model, input="Say hello", extra_body={"provider": {"only": [provider]}}
    )

    response = raw.parse()
    assert f"Hello from {provider}" in response.output_text
    usage = response.model_dump()["usage"]
    assert (response.model_dump()["provider"], usage["is_byok"]) == (provider, False)
    assert balance(gateway.customer.account_id) == pytest.approx(before - Decimal(str(usage["cost"])))
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert (record["status"], record["api"], record["provider"], record["is_byok"]) == (
        "success",
        "responses",
        provider,
        False,
    )
    byok, shared = record["attempts"]
    assert (byok["credential"], byok["key_id"], byok["outcome"], byok["status_code"]) == (
        "byok",
        key["id"],
        outcome,
        status_code,
    )
    assert_no_secret(json.dumps(record), credentials, *sent_auth_values(gateway.sim, credential_id(credentials)))
    assert (shared["credential"], shared["outcome"]) == ("shared", "success")
    calls = upstream_credentials(gateway.sim, provider, 2, wait_s=SLOW_UPSTREAM_S + 2)
    assert sorted(calls) == sorted([credential_id(credentials), PLATFORM_CREDENTIAL[provider]])


@pytest.mark.parametrize(
    ("fault", "outcome", "status_code"),
    [({"mode": "drop"}, "connection_error", None), ({"status": 503}, "error", 503)],
    ids=["dropped_before_first_chunk", "503"],
)
@pytest.mark.parametrize(("provider", "model"), STREAM_ROUTES)
def test_responses_stream_failing_before_the_first_delta_falls_back(
    openai_client: openai.OpenAI,
    api: Any,
    gateway: Gateway,
    provider: str,
    model: str,
    fault: dict[str, Any],
    outcome: str,
    status_code: int | None,
) -> None:
    credentials = customer_credentials(gateway.sim, provider)
    key = add_key(api.url, gateway.api_key, provider, credentials)
    gateway.sim.fail(provider, credential=credential_id(credentials), **fault)

    raw = openai_client.responses.with_raw_response.create(
        model=model, input="Say hello", stream=True, extra_body={"provider": {"only": [provider]}}
    )
    events = list(raw.parse())

    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert f"Hello from {provider}" in text
    assert events[-1].type == "response.completed"
    assert events[-1].response.model_dump()["usage"]["is_byok"] is False
    record = get_log(api.url, gateway.api_key, raw.headers["x-request-id"])
    assert (record["status"], record["api"], record["is_byok"]) == ("success", "responses", False)
    byok, shared = record["attempts"]
    assert (byok["key_id"], byok["outcome"], byok["status_code"]) == (key["id"], outcome, status_code)
    assert (shared["credential"], shared["outcome"]) == ("shared", "success")
