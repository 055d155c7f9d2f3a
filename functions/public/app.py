"""GET /health (no auth) and GET /v1/models (the catalog with per-provider prices)."""

from __future__ import annotations

from typing import Any

from gateway.api import authenticate, create_app, handler
from gateway.catalog import get_catalog

app = create_app()


@app.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@app.get("/v1/models")
def list_models() -> dict[str, Any]:
    authenticate(app)
    catalog = get_catalog()
    return {
        "object": "list",
        "data": [
            {
                "id": model.id,
                "object": "model",
                "created": 0,
                "owned_by": model.owned_by,
                "providers": [
                    {
                        "slug": offer.slug,
                        "pricing": {
                            "prompt": float(offer.pricing.prompt),
                            "completion": float(offer.pricing.completion),
                        },
                    }
                    for offer in model.providers
                ],
            }
            for model in catalog.models
        ],
    }


lambda_handler = handler(app)
