"""Provider credentials in the typed form the adapters use, and as they are stored (encrypted).

What a customer may submit, and how it is validated, is ``gateway.security.credential_formats``. Secrets are
``SecretStr`` throughout; only ``to_plaintext`` reveals them, straight into the encryptor.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ApiKeyCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["api_key"] = "api_key"
    api_key: SecretStr


class AwsCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["aws"] = "aws"
    access_key_id: str
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


class ServiceAccountCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["service_account"] = "service_account"
    project_id: str
    client_email: str
    private_key: SecretStr
    private_key_id: str | None = None
    client_id: str | None = None
    token_uri: str

    def google_info(self) -> dict[str, Any]:
        """The service-account dict google-auth expects (contains the private key: never log it)."""
        info: dict[str, Any] = {
            "type": "service_account",
            "project_id": self.project_id,
            "client_email": self.client_email,
            "private_key": self.private_key.get_secret_value(),
            "token_uri": self.token_uri,
        }
        if self.private_key_id:
            info["private_key_id"] = self.private_key_id
        if self.client_id:
            info["client_id"] = self.client_id
        return info


Credentials = Annotated[ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials, Field(discriminator="kind")]


class _Envelope(BaseModel):
    credentials: Credentials


class ParsedCredentials(BaseModel):
    """What a create/rotate request yields: the secret part, the routing region and the display hint."""

    model_config = ConfigDict(frozen=True)
    credentials: Credentials
    region: str | None
    hint: str


def to_plaintext(credentials: ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials) -> bytes:
    """Serialise for encryption (the only place secrets are revealed, straight into the encryptor)."""
    data = credentials.model_dump()
    for name, value in list(data.items()):
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
    return json.dumps(data, separators=(",", ":")).encode()


def from_plaintext(plaintext: bytes) -> ApiKeyCredentials | AwsCredentials | ServiceAccountCredentials:
    return _Envelope.model_validate({"credentials": json.loads(plaintext)}).credentials
