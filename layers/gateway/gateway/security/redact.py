"""The one redactor: ``redact`` makes any text safe to store, log or return.

It removes, in this order:

1. what *looks like* a secret whatever the attempt: PEM blocks, JWTs, URL query strings, bearer tokens, labelled
   values (``api_key=...``), known key prefixes and long key-shaped runs (first, so that whole blocks go whole);
2. every run of ``WINDOW`` (12) or more consecutive characters of any exact secret of the attempt (``Secrets``:
   every field of its credential, a private key whole and line by line, and the auth header values it actually
   sent, which include the Vertex OAuth access token in use), in any letter case and in every spelling an
   upstream may quote it in: as is, JSON-escaped, URL-encoded (``quote`` and ``quote_plus``) and base64 at each
   of the three byte alignments (the secret inside a longer base64 blob). A shorter secret goes whole.

then collapses whitespace and cuts to ``MAX_ERROR_CHARS``: cutting last, so no prefix of a quoted key is left
behind by the cut. ``routing.run_attempt`` applies it once to every text derived from an upstream answer (error
messages, 400 terminal messages, stream error events, attempt records and connection-test results) before
anything is truncated, stored, logged or returned; everything downstream carries that text as it is.

Performance: the warm success path never redacts. A failed attempt looks its secrets' 12-character windows up
in a set (built once per secret and cached), so scanning a text is one pass whatever the credential.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote, quote_plus

from gateway.security.credentials import ApiKeyCredentials, AwsCredentials, ServiceAccountCredentials

REDACTED = "[redacted]"
# Any run this long of a secret is removed; a secret shorter than this is removed whole.
WINDOW = 12
# Shorter fragments (the last line of a PEM body, "Bearer") are not secrets and would mangle ordinary words.
MIN_SECRET_CHARS = 8
MAX_ERROR_CHARS = 200
# Provider error bodies can be large; nothing past this point could reach the 200 kept characters anyway.
MAX_REDACT_INPUT = 16_384
AUTH_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "x-amz-security-token"})
_AUTH_SCHEMES = ("bearer ", "basic ")
_SIGV4_SIGNATURE = re.compile(r"Signature=([0-9a-fA-F]+)")
# Letter case and the two base64 alphabets ("+/" and "-_") are ignored when comparing: folding is one
# character for one, so positions in the folded text are positions in the original.
_FOLD = str.maketrans({**{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}, "-": "+", "_": "/"})

Credentials = ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials


@functools.lru_cache(maxsize=32)
def _windows(secret: str) -> frozenset[str]:
    """Every folded ``WINDOW``-character run of every spelling of ``secret`` (the spelling whole if shorter)."""
    found: set[str] = set()
    for spelling in _spellings(secret):
        folded = spelling.translate(_FOLD)
        if len(folded) < MIN_SECRET_CHARS:
            continue
        if len(folded) <= WINDOW:
            found.add(folded)
            continue
        windows = (folded[i : i + WINDOW] for i in range(len(folded) - WINDOW + 1))
        found.update(window for window in windows if "-----" not in window)  # PEM framing is no secret
    return frozenset(found)


def _spellings(secret: str) -> set[str]:
    escaped = json.dumps(secret)[1:-1]
    spellings = {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe=""), quote(secret)}
    spellings.add(quote_plus(secret))
    raw = secret.encode()
    for offset in range(3):
        # The secret at byte ``offset`` of a 3-byte group: only the characters made of its own bits are fixed,
        # whatever surrounds it (the first characters carry bits of the bytes before, the last of those after).
        encoded = base64.b64encode(b"\0" * offset + raw)
        whole = (offset + len(raw)) // 3 * 4
        spellings.add(encoded[(0, 2, 3)[offset] : whole].decode("ascii"))
    return spellings


class Secrets:
    """The exact secrets of one attempt. Their windows are computed only when a text is redacted (a plain
    slotted class: one is made per attempt on the warm path)."""

    __slots__ = ("_by_length", "values")

    def __init__(self, values: tuple[str, ...] = ()) -> None:
        self.values = values
        self._by_length: dict[int, frozenset[str]] | None = None

    def windows(self) -> dict[int, frozenset[str]]:
        """The folded windows of every secret, by length (``WINDOW``, or a short secret's own length)."""
        if self._by_length is None:
            by_length: dict[int, set[str]] = {}
            for secret in self.values:
                for window in _windows(secret):
                    by_length.setdefault(len(window), set()).add(window)
            self._by_length = {length: frozenset(found) for length, found in by_length.items()}
        return self._by_length

    def remove(self, text: str) -> str:
        """``text`` with every run made of secret windows replaced by ``REDACTED``."""
        windows = self.windows()
        if not windows:
            return text
        folded = text.translate(_FOLD)
        covered: list[tuple[int, int]] = []
        for length, known in windows.items():
            covered += [(i, i + length) for i in range(len(folded) - length + 1) if folded[i : i + length] in known]
        if not covered:
            return text
        parts: list[str] = []
        kept_from = 0
        for start, end in _merged(covered):
            parts += [text[kept_from:start], REDACTED]
            kept_from = end
        return "".join([*parts, text[kept_from:]])

    def __str__(self) -> str:
        return f"Secrets({len(self.values)})"

    __repr__ = __str__


NO_SECRETS = Secrets()


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def secrets_of(credentials: Credentials | None, headers: Mapping[str, str] | None = None) -> Secrets:
    """The exact secrets of one attempt: every secret field of ``credentials`` (a private key also line by
    line), its access key id, and the values of the auth ``headers`` sent with it."""
    found: list[str] = []
    if isinstance(credentials, ApiKeyCredentials):
        found.append(credentials.api_key.get_secret_value())
    elif isinstance(credentials, AwsCredentials):
        found += [credentials.access_key_id, credentials.secret_access_key.get_secret_value()]
        if credentials.session_token is not None:
            found.append(credentials.session_token.get_secret_value())
    elif isinstance(credentials, ServiceAccountCredentials):
        pem = credentials.private_key.get_secret_value()
        found.append(pem)
        found += [line.strip() for line in pem.splitlines() if "-----" not in line]
        if credentials.private_key_id:
            found.append(credentials.private_key_id)
    for name, value in (headers or {}).items():
        if name.lower() not in AUTH_HEADERS:
            continue
        if value.startswith("AWS4-"):  # SigV4: its secret parts are the credential's; the signature is per request
            found += _SIGV4_SIGNATURE.findall(value)
            continue
        scheme = next((scheme for scheme in _AUTH_SCHEMES if value.lower().startswith(scheme)), "")
        found.append(value[len(scheme) :].strip())  # the token alone: "Bearer " is no secret
    return Secrets(tuple(s for s in dict.fromkeys(found) if len(s) >= MIN_SECRET_CHARS))


# URL query strings: a URL is found within one run of URL characters and its query cut in one linear pass (a
# single regex retried at each position of a long run would cost seconds on an echoed 16 KiB body).
_URL_TOKEN = re.compile(r"[^\s#\"'<>]+")
_URL_SCHEME = re.compile(r"\b[a-z][a-z0-9+.-]{0,31}://", re.I)


def _without_query(match: re.Match[str]) -> str:
    token = match.group(0)
    scheme = _URL_SCHEME.search(token)
    query = token.find("?", scheme.end()) if scheme else -1
    return token if query < 0 else f"{token[:query]}?{REDACTED}"


_SENSITIVE_LABELS = (
    r"x-api-key|x-goog-api-key|api[_-]?key|secret[_-]?access[_-]?key|secret|access[_-]?token|refresh[_-]?token"
    r"|id[_-]?token|client[_-]?secret|private[_-]?key|password|session[_-]?token|x-amz-security-token|signature"
    r"|token|key"
)
# Applied in order: whole blocks first, then URL query strings, labelled values, then bare token shapes.
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.S), "[redacted pem]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted jwt]"),
    (_URL_TOKEN, _without_query),
    (re.compile(r"\b(bearer|basic)\s+(?!\[redacted)[^\s\"',;]+", re.I), rf"\1 {REDACTED}"),
    (
        re.compile(rf"\b({_SENSITIVE_LABELS})([\"']?\s*[:=]\s*[\"']?)(?!\[redacted)[^\s\"',;&}}]+", re.I),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_*.-]{6,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{10,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,}"), REDACTED),
    (re.compile(r"\bya29\.[\w.-]+"), REDACTED),
    (re.compile(r"\bgwk_[A-Za-z0-9_]+"), REDACTED),
)
_TOKEN_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{32,}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
_WHITESPACE = re.compile(r"\s+")


def _looks_secret(run: str) -> bool:
    """A long run of token characters that is hex, or mixes cases and digits the way base64 keys do."""
    if _HEX_RUN.fullmatch(run):
        return True
    has_digit = any(c.isdigit() for c in run)
    if any(c.isupper() for c in run) and any(c.islower() for c in run) and has_digit:
        return True
    # Slug-like identifiers (model ids, URL paths) carry hyphens or slashes; a 32+ char run without them is a key.
    return has_digit and "-" not in run and "/" not in run


def redact(text: str, secrets: Secrets = NO_SECRETS) -> str:
    """``text`` made safe to store and show: no run of the attempt's ``secrets``, no query strings, keys,
    tokens or PEM blocks; one line of at most ``MAX_ERROR_CHARS``."""
    cleaned = text[:MAX_REDACT_INPUT]
    for pattern, replacement in _PATTERNS:
        cleaned = pattern.sub(replacement, cleaned)
    cleaned = _TOKEN_RUN.sub(lambda m: REDACTED if _looks_secret(m.group(0)) else m.group(0), cleaned)
    cleaned = secrets.remove(cleaned)
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    if len(cleaned) > MAX_ERROR_CHARS:
        cleaned = cleaned[: MAX_ERROR_CHARS - 1] + "…"
    return cleaned
