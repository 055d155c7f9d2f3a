"""``make bench``'s Responses and API-key limits sections: how AWS calls are placed around the upstream call,
and which figures pass or miss their targets (synthetic figures; the run itself is ``make bench``)."""

from __future__ import annotations

from typing import Any

from bench import limits, responses
from bench.responses_side import kind, window_counts


def test_stores_reads_and_writes_are_told_apart_from_kms() -> None:
    assert [kind(n) for n in ("dynamodb.Query", "s3.GetObject", "dynamodb.UpdateItem", "s3.PutObject")] == [
        "read",
        "read",
        "write",
        "write",
    ]
    assert kind("kms.GenerateDataKey") == "kms"
    assert kind("cloudwatch.PutMetricData") == "other"


def test_an_aws_call_falls_in_the_window_it_started_in() -> None:
    # upstream request at 10, its last byte at 20, the client's last byte at 30
    calls = [(5.0, "dynamodb.Query"), (15.0, "dynamodb.PutItem"), (25.0, "s3.PutObject"), (35.0, "dynamodb.PutItem")]
    counts = window_counts(calls, (10.0, 20.0, 30.0))
    assert counts["read:before_upstream"] == 1
    assert counts["write:while_upstream"] == 1
    assert counts["s3.PutObject:after_upstream_before_client_end"] == 1
    assert counts["write:after_client_end"] == 1


def _stream(writes: dict[str, int], ttft_s: float = 0.0005) -> dict[str, Any]:
    return {"ttft_overhead_s": [ttft_s] * 10, "chunk_overheads_s": [0.0001] * 10, "calls": [writes] * 10}


def _verdicts(verdicts: list[Any]) -> dict[str, bool]:
    return {v.target: v.passed for v in verdicts}


def test_a_stored_streams_write_before_the_clients_last_byte_is_a_miss_after_it_a_pass() -> None:
    plain = {"write:after_client_end": 1}
    litellm = {"openai": _stream({}), "anthropic": _stream({})}
    for stored_writes, passes in (
        ({"write:after_upstream_before_client_end": 1, "write:after_client_end": 1}, False),
        ({"write:after_client_end": 2}, True),
    ):
        ours = {
            responses.STREAM_ROWS[0][0]: _stream(plain),
            responses.STREAM_ROWS[1][0]: _stream(stored_writes),
            responses.STREAM_ROWS[2][0]: _stream(plain, ttft_s=0.003),
        }
        text, verdicts = responses.stream_report({"ours": {"scenarios": ours}, "litellm": {"scenarios": litellm}})
        seen = _verdicts(verdicts)
        assert seen["responses stream stored turn: writes added <= 1"] is True
        assert seen["responses stream stored turn: writes added before the upstream's last byte = 0"] is True
        assert seen["responses stream stored turn: writes added before the client's last byte = 0"] is passes
        assert seen[f"responses {responses.STREAM_ROWS[2][0]}: TTFT overhead p99 <= 2 ms"] is False
        assert "LiteLLM Router.responses anthropic" in text


def _warm(total_ms: float, byok: bool, writes_before: int, n: int = 20) -> dict[str, Any]:
    return {
        "total_s": [total_ms / 1000] * n,
        "upstream_s": [0.0] * n,
        "aws_s": [0.0] * n,
        "reads_before_upstream": [1] * n,
        "writes_before_upstream": [writes_before] * n,
        "writes": [writes_before + 1] * n,
    }


def test_limits_verdicts_count_writes_before_the_upstream_and_compare_with_the_unlimited_rows() -> None:
    figures = {}
    for name, byok, key_limits in limits.ROWS:
        writes = (0 if byok else 1) + (1 if key_limits is limits.LIMITS else 0)
        slower = 1.2 if key_limits is limits.LIMITS and not byok else 1.0
        figures[name] = _warm(2.0 * slower, byok, writes)
    _, verdicts = limits.report({"scenarios": figures})
    seen = _verdicts(verdicts)
    amortised = "a request (amortised, to 2 places)"
    assert seen[f"limits BYOK: DynamoDB writes before the upstream <= 0 {amortised}"] is False  # a write each
    assert seen[f"limits BYOK, budget only: DynamoDB writes before the upstream <= 0 {amortised}"] is True
    assert seen[f"limits shared, budget only: DynamoDB writes before the upstream <= 1 {amortised}"] is True
    assert seen["limits BYOK: warm overhead p50 excl AWS <= 1.1 x the same run without limits"] is True
    assert seen["limits shared: warm overhead p50 excl AWS <= 1.1 x the same run without limits"] is False
    assert all(seen[f"limits {route}: DynamoDB reads before the upstream = 1"] for route in ("BYOK", "shared"))


def test_a_rate_limits_batched_writes_count_amortised() -> None:
    # Given a rate-limited BYOK key whose first request of 300 took a batch of slots (one write), the rest none
    figures = {name: _warm(2.0, byok, 0, n=300) for name, byok, _ in limits.ROWS}
    for name, byok, key_limits in limits.ROWS:
        if byok and key_limits is limits.LIMITS:
            figures[name]["writes_before_upstream"][0] = 1
    _, verdicts = limits.report({"scenarios": figures})

    # Then the row passes its zero-writes target: 0.003 a request, 0.00 to two places
    assert _verdicts(verdicts)[
        "limits BYOK: DynamoDB writes before the upstream <= 0 a request (amortised, to 2 places)"
    ]
