"""AWS Signature Version 4: parse the Authorization header and recompute the signature with botocore."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.simulator.wire import Call

ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_AMZ_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")


@dataclass(frozen=True)
class SigV4Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(call: Call) -> SigV4Authorization | None:
    """The parsed header when it is structurally valid (with a matching X-Amz-Date), else None."""
    match = _AUTH_RE.match((call.header("authorization") or "").strip())
    amz_date = call.header("x-amz-date") or ""
    if match is None or not _AMZ_DATE_RE.match(amz_date) or amz_date[:8] != match["date"]:
        return None
    signed = tuple(match["signed"].split(";"))
    if "host" not in signed or any(name not in call.headers for name in signed):
        return None
    return SigV4Authorization(
        access_key_id=match["akid"],
        date=match["date"],
        region=match["region"],
        service=match["service"],
        signed_headers=signed,
        signature=match["signature"],
    )


def signature_matches(call: Call, auth: SigV4Authorization, secret_access_key: str) -> bool:
    """Re-sign the request as received, using the signer's own timestamp and signed headers."""
    content_sha = call.header("x-amz-content-sha256")
    if content_sha is not None and content_sha != hashlib.sha256(call.raw_body).hexdigest():
        return False
    host = call.headers["host"]
    url = f"http://{host}{call.path}" + (f"?{call.raw_query}" if call.raw_query else "")
    headers = {name: call.headers[name] for name in auth.signed_headers}
    request = AWSRequest(method=call.method, url=url, data=call.raw_body, headers=headers)
    request.context["timestamp"] = call.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(auth.access_key_id, secret_access_key), auth.service, auth.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, auth.signature)
