"""GET /health (no auth), GET /v1/models (the catalog with per-provider prices) and GET /v1/models/{id}."""

from __future__ import annotations

from typing import Any

from gateway.core.catalog import Model, get_catalog
from gateway.core.errors import NotFound
from gateway.http.resolver import authenticate, create_app, handler

app = create_app()


@app.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok"}


def _model(model: Model) -> dict[str, Any]:
    return {
        "id": model.id,
        "object": "model",
        "created": 0,
        "owned_by": model.owned_by,
        "aliases": list(model.aliases),
        "endpoints": list(model.endpoints),
        **({"embedding": model.embedding.model_dump(exclude_defaults=True)} if model.embedding else {}),
        "providers": [
            {
                "slug": offer.slug,
                "pricing": {
                    "prompt": float(offer.pricing.prompt),
                    "completion": float(offer.pricing.completion),
                    **(
                        {"cached_prompt": float(offer.pricing.cached_prompt)}
                        if offer.pricing.cached_prompt is not None
                        else {}
                    ),
                    **(
                        {"cache_write": float(offer.pricing.cache_write)}
                        if offer.pricing.cache_write is not None
                        else {}
                    ),
                },
            }
            for offer in model.providers
        ],
    }


@app.get("/v1/models")
def list_models() -> dict[str, Any]:
    authenticate(app)
    return {"object": "list", "data": [_model(model) for model in get_catalog().models]}


# Catalog ids hold a "/" (anthropic/claude-sonnet-4.5): API Gateway's greedy {model_id+} passes the rest of the
# path, decoded, whether the client sent the "/" as is or as %2F (the openai SDK does).
@app.get("/v1/models/.+")
def get_model() -> dict[str, Any]:
    authenticate(app)
    name = (app.current_event.path_parameters or {}).get("model_id") or ""
    model = get_catalog().model(name)
    if model is None:
        raise NotFound("no such model; GET /v1/models lists them", code="model_not_found")
    return _model(model)


lambda_handler = handler(app)
