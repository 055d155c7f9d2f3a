"""gateway.http.resolver: a request in flight keeps its own event while another request is resolved on another thread.

Powertools stores the current event on a class shared by every resolver; the dev server and the tests run
handlers on concurrent threads (the dashboard fetches logs and usage at once), so without a per-thread event
one request would answer with another's query, body or API key.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from gateway.http.resolver import create_app
from local.apigw import HttpRequest, RouteMatch, build_event
from local.handlers import LambdaContext
from local.template import Route


def _event(path: str, query: str) -> dict[str, Any]:
    route = Route(method="GET", path=path, function="Fn", code_dir="functions/x", timeout_ms_param=None)
    return build_event(HttpRequest(method="GET", target=f"{path}?{query}"), RouteMatch(route, {}))


def test_a_request_in_flight_keeps_its_own_event() -> None:
    # Given a route that reads the event only after another request has been resolved meanwhile
    app = create_app()
    inside, release = threading.Event(), threading.Event()

    @app.get("/slow")
    def slow() -> dict[str, Any]:
        inside.set()
        release.wait(10)
        return {"who": app.current_event.get_query_string_value("who")}

    @app.get("/fast")
    def fast() -> dict[str, Any]:
        return {"who": app.current_event.get_query_string_value("who")}

    answers: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: answers.update(slow=app.resolve(_event("/slow", "who=a"), LambdaContext("Fn", 10)))
    )
    worker.start()
    assert inside.wait(10)

    # When another request is resolved while the first one waits
    answers["fast"] = app.resolve(_event("/fast", "who=b"), LambdaContext("Fn", 10))
    release.set()
    worker.join(10)

    # Then each answered with its own query
    assert json.loads(answers["fast"]["body"]) == {"who": "b"}
    assert json.loads(answers["slow"]["body"]) == {"who": "a"}
