"""Plausible request records spread over the last hours, for the dashboard's screenshots and its load benchmark.

Records are written with ``gateway.data.request_log.save_request``, exactly as the chat function stores them, so the
logs API, the stream consumer that sums usage and the page all see them as real traffic: a BYOK or shared attempt
that served, sometimes after failed attempts (the fallback chains the logs page shows), sometimes an error.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from local.handlers import ensure_layer_importable

ensure_layer_importable()

from gateway.data.request_log import AttemptRecord, RequestRecord, save_request  # noqa: E402 - after the layer is importable

# model -> (providers in catalog order, USD per prompt token, USD per completion token)
MODELS = {
    "openai/gpt-5-mini": (["openai"], Decimal("0.25e-6"), Decimal("2e-6")),
    "anthropic/claude-sonnet-4.5": (
        ["anthropic", "amazon-bedrock", "google-vertex"],
        Decimal("3e-6"),
        Decimal("15e-6"),
    ),
    "google/gemini-3-flash": (["google-vertex", "google-ai-studio"], Decimal("0.5e-6"), Decimal("3e-6")),
    "deepseek/deepseek-v3.2": (["deepseek"], Decimal("0.28e-6"), Decimal("0.42e-6")),
}
FAILURES = [
    (429, "error", "rate limit reached for requests"),
    (503, "error", "upstream overloaded"),
    (None, "timeout", None),
]


def _request_id(moment: datetime) -> str:
    return f"req_{int(moment.timestamp() * 1000):012x}{secrets.token_hex(8)}"


def sample_records(account_id: str, count: int, *, hours: int = 23, seed: int = 7) -> Iterator[RequestRecord]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for _ in range(count):
        # Busier in the recent hours, like a day of growing traffic
        moment = now - timedelta(seconds=(rng.random() ** 1.6) * hours * 3600 * 0.999)
        model = rng.choice(list(MODELS))
        providers, prompt_price, completion_price = MODELS[model]
        attempts: list[AttemptRecord] = []
        chain = [(p, "byok") for p in providers if rng.random() < 0.6] + [(p, "shared") for p in providers]
        failures = rng.choices([0, 1, 2], weights=[80, 15, 5])[0]
        failed_all = rng.random() < 0.04
        for index, (provider, credential) in enumerate(chain[: failures + 1] if not failed_all else chain[:2], 1):
            last = index == min(len(chain), failures + 1) and not failed_all
            status: int | None
            error: str | None
            if last:
                status, outcome, error = 200, "success", None
            else:
                status, outcome, error = rng.choice(FAILURES)
            attempts.append(
                AttemptRecord(
                    attempt=index,
                    provider=provider,
                    credential="byok" if credential == "byok" else "shared",
                    key_id=f"key_{secrets.token_hex(12)}" if credential == "byok" else None,
                    status_code=status,
                    outcome="success" if outcome == "success" else "timeout" if outcome == "timeout" else "error",
                    error=error,
                    latency_ms=rng.randint(180, 2400) if outcome != "timeout" else 10_000,
                )
            )
        served = attempts[-1] if attempts[-1].outcome == "success" else None
        prompt_tokens = rng.randint(20, 3000) if served else 0
        completion_tokens = rng.randint(10, 900) if served else 0
        shared = served is not None and served.credential == "shared"
        cost = (prompt_tokens * prompt_price + completion_tokens * completion_price) if shared else Decimal(0)
        yield RequestRecord(
            request_id=_request_id(moment),
            account_id=account_id,
            created_at=moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            model=model,
            provider=served.provider if served else None,
            is_byok=served is not None and served.credential == "byok",
            status="success" if served else "error",
            http_status=200 if served else 429 if attempts[-1].status_code == 429 else 502,
            latency_ms=sum(a.latency_ms for a in attempts),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost.quantize(Decimal("1e-9")),
            stream=False,
            attempts=attempts,
        )


def write_sample_logs(account_id: str, count: int, *, hours: int = 23, seed: int = 7) -> int:
    written = 0
    for record in sample_records(account_id, count, hours=hours, seed=seed):
        save_request(record)
        written += 1
    return written
