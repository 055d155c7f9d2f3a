"""A small router for API Gateway REST API (Lambda proxy integration) events: routes by method and path, the
event's accessors, exception handlers, and the proxy result Lambda returns.

It keeps what the functions used of Powertools' ``APIGatewayRestResolver`` and nothing else: that package imports
every resolver it has (~100 modules, AppSync's asyncio included; 21-28 ms of CPU on every cold start beyond what
a first request needs anyway), and its return path sat between a streamed answer's route and its first byte.
Behaviour kept from it:

- A rule is a regular expression matched against the event's ``path`` (as API Gateway sends it, percent-encoded),
  where ``<name>`` matches one path segment and is passed to the route as the keyword argument ``name``; a
  trailing ``/`` is ignored on both sides. Rules without parameters are tried before rules with them, each group
  in the order it was registered.
- A path that no route of its method serves goes to the ``not_found`` handler (there is no 405: API Gateway
  routes each method to its function, so a function only sees another method of a path it serves by mistake).
- An exception raised by a route (or by the not-found handler) goes to the handler registered for the nearest
  class in its MRO; without one it propagates.
- A route returns a ``Response``, a ``StreamedResponse`` (handed back as it is: whoever serves the function sends
  its body), or anything else, which becomes a JSON 200. The proxy result carries ``multiValueHeaders``.

The current event and Lambda context are kept per thread of execution (context variables): the dev server and
the tests run handlers on concurrent threads, where a shared attribute would hand one request another's event.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from gateway.http.streaming import StreamedResponse

F = TypeVar("F", bound=Callable[..., Any])
ProxyResult = dict[str, Any]
ErrorHandler = Callable[[Any], "Response"]

JSON_CONTENT_TYPE = "application/json"
# One path segment as API Gateway passes it: RFC 3986's unreserved and sub-delims, the characters it leaves
# percent-encoded or decoded, and word characters; never "/".
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_PARAMETER = re.compile(r"<(\w+)>")

_event: contextvars.ContextVar[ProxyEvent] = contextvars.ContextVar("event")
_lambda_context: contextvars.ContextVar[Any] = contextvars.ContextVar("lambda_context")


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (HTTP header names are)."""

    __slots__ = ("_values",)

    def __init__(self, raw: Mapping[str, str] | None) -> None:
        self._values = {name.lower(): value for name, value in (raw or {}).items()}

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class ProxyEvent:
    """The accessors of a REST API proxy event that the functions read; ``raw_event`` is the event itself."""

    __slots__ = ("_headers", "raw_event")

    def __init__(self, raw_event: Mapping[str, Any]) -> None:
        self.raw_event = raw_event
        self._headers: Headers | None = None

    @property
    def http_method(self) -> str:
        return str(self.raw_event["httpMethod"]).upper()

    @property
    def path(self) -> str:
        return str(self.raw_event["path"])

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.raw_event.get("headers"))
        return self._headers

    @property
    def query_string_parameters(self) -> dict[str, str]:
        """Each query parameter's last value (API Gateway's single-value map)."""
        return self.raw_event.get("queryStringParameters") or {}

    @property
    def multi_value_query_string_parameters(self) -> dict[str, list[str]]:
        return self.raw_event.get("multiValueQueryStringParameters") or {}

    def get_query_string_value(self, name: str, default: str | None = None) -> str | None:
        return self.query_string_parameters.get(name, default)

    @property
    def path_parameters(self) -> dict[str, str]:
        """API Gateway's own path parameters (the template's ``{name}``), decoded."""
        return self.raw_event.get("pathParameters") or {}

    @property
    def request_context(self) -> dict[str, Any]:
        return self.raw_event.get("requestContext") or {}

    @property
    def body(self) -> str | None:
        """The body as API Gateway sent it: base64 when ``is_base64_encoded``."""
        return self.raw_event.get("body")

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.raw_event.get("isBase64Encoded"))

    @property
    def decoded_body(self) -> str:
        """The body as text, base64-decoded when it came encoded; raises ``ValueError`` when that is not UTF-8."""
        raw = self.body or ""
        if self.is_base64_encoded and raw:
            return base64.b64decode(raw).decode("utf-8")
        return raw


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "model_dump"):  # a pydantic model
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_text(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), default=_json_default)


class Response:
    """A whole HTTP answer. ``content_type`` becomes ``Content-Type`` unless ``headers`` names one; a body that is
    not a string is serialised to JSON when the content type is JSON, and base64-encoded when it is bytes."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: Any = None,
        headers: Mapping[str, str | list[str]] | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.headers: dict[str, str | list[str]] = dict(headers) if headers else {}
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def proxy_result(self) -> ProxyResult:
        body = self.body
        content_type = self.headers.get("Content-Type", "")
        if isinstance(content_type, list):
            content_type = content_type[0] if content_type else ""
        if content_type.startswith(JSON_CONTENT_TYPE) and not isinstance(body, str):
            body = json_text(body)
        encoded = isinstance(body, bytes)
        if encoded:
            body = base64.b64encode(body).decode("ascii")
        headers = {name: [value] if isinstance(value, str) else list(value) for name, value in self.headers.items()}
        return {"statusCode": self.status_code, "body": body, "isBase64Encoded": encoded, "multiValueHeaders": headers}


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    func: Callable[..., Any]


def compile_rule(rule: str) -> re.Pattern[str]:
    """``rule`` as the regular expression a path must match in full (trailing slashes ignored)."""
    expression = _PARAMETER.sub(lambda parameter: f"(?P<{parameter[1]}>{_SEGMENT})", rule.rstrip("/"))
    return re.compile(f"^{expression}/*$")


def _answer(result: Any) -> ProxyResult | StreamedResponse:
    if isinstance(result, StreamedResponse):
        return result
    if not isinstance(result, Response):
        result = Response(200, JSON_CONTENT_TYPE, result)
    return result.proxy_result()


class App:
    """Routes and exception handlers of one function; ``resolve`` answers one event."""

    def __init__(self) -> None:
        self._static: list[Route] = []
        self._dynamic: list[Route] = []
        self._routes: tuple[Route, ...] = ()  # the static ones first
        self._error_handlers: dict[type[BaseException], ErrorHandler] = {}
        self._not_found: Callable[[], Any] = lambda: Response(404, JSON_CONTENT_TYPE, {"message": "Not found"})

    def route(self, rule: str, method: str | Sequence[str]) -> Callable[[F], F]:
        methods = [method] if isinstance(method, str) else list(method)

        def register(func: F) -> F:
            pattern = compile_rule(rule)
            routes = self._dynamic if pattern.groups else self._static
            routes.extend(Route(name.upper(), pattern, func) for name in methods)
            self._routes = (*self._static, *self._dynamic)
            return func

        return register

    def get(self, rule: str) -> Callable[[F], F]:
        return self.route(rule, "GET")

    def post(self, rule: str) -> Callable[[F], F]:
        return self.route(rule, "POST")

    def patch(self, rule: str) -> Callable[[F], F]:
        return self.route(rule, "PATCH")

    def delete(self, rule: str) -> Callable[[F], F]:
        return self.route(rule, "DELETE")

    def not_found(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """Register the answer to a path no route serves."""
        self._not_found = func
        return func

    def exception_handler(self, classes: type[Exception] | list[type[Exception]]) -> Callable[[F], F]:
        """Register the answer to an exception of ``classes`` (or a subclass) raised while answering."""

        def register(func: F) -> F:
            for cls in classes if isinstance(classes, list) else [classes]:
                self._error_handlers[cls] = func
            return func

        return register

    @property
    def current_event(self) -> ProxyEvent:
        return _event.get()

    @property
    def lambda_context(self) -> Any:
        return _lambda_context.get()

    def resolve(self, event: Mapping[str, Any], context: Any) -> ProxyResult | StreamedResponse:
        proxy_event = ProxyEvent(event)
        event_token = _event.set(proxy_event)
        context_token = _lambda_context.set(context)
        try:
            return self._dispatch(proxy_event.http_method, proxy_event.path)
        finally:
            _event.reset(event_token)
            _lambda_context.reset(context_token)

    def _dispatch(self, method: str, path: str) -> ProxyResult | StreamedResponse:
        try:
            for route in self._routes:
                if route.method == method and (match := route.pattern.match(path)) is not None:
                    return _answer(route.func(**match.groupdict()))
            return _answer(self._not_found())
        except Exception as error:
            handle = self._error_handler(type(error))
            if handle is None:
                raise
            return _answer(handle(error))

    def _error_handler(self, error_type: type[BaseException]) -> ErrorHandler | None:
        for cls in error_type.__mro__:
            handler = self._error_handlers.get(cls)
            if handler is not None:
                return handler
        return None
