"""A Lambda runtime loop that streams a function's response, for the managed Python runtime.

Python's managed runtime posts every answer in one piece, so API Gateway's response streaming would get nothing
before the handler returns. This loop takes its place: the layer's ``lambda-stream`` script, set as
``AWS_LAMBDA_EXEC_WRAPPER``, starts it with the runtime's own interpreter, and it speaks the Lambda Runtime API
(``2018-06-01``) itself, as Lambda's Node.js runtime does for ``streamifyResponse``:

- ``GET /runtime/invocation/next`` gives the event, with the request id, deadline, function ARN and X-Ray trace
  header as ``Lambda-Runtime-*`` headers.
- The answer is one ``POST /runtime/invocation/{id}/response`` with ``Lambda-Runtime-Function-Response-Mode:
  streaming`` and ``Transfer-Encoding: chunked``, whose body is API Gateway's HTTP integration response: a JSON
  prelude (``statusCode``, ``headers``, ``multiValueHeaders``, ``cookies``), eight NUL bytes, then the body. A
  ``StreamedResponse`` item goes out as one chunk the moment it is yielded; a proxy dict goes out whole.
- A handler that raises before anything was sent is reported on ``/runtime/invocation/{id}/error``, with the
  ``Lambda-Runtime-Function-XRay-Error-Cause`` header AWS's Python runtime client sends (the exception's type and
  frames, for the function's X-Ray segment); a body that
  raises once streaming has begun ends the chunked body with the ``Lambda-Runtime-Function-Error-Type`` and
  ``Lambda-Runtime-Function-Error-Body`` trailers. A handler that cannot be loaded is ``/runtime/init/error``.

Under ``sam local`` (``AWS_SAM_LOCAL=true``), whose emulator and ``start-api`` expect a buffered proxy result, the
loop posts the whole answer instead (a ``StreamedResponse`` joined). Exception messages never leave the process:
they can quote request data, so errors carry the type and the stack frames only.

Imports stay to the standard library's HTTP client: this module is on every cold start of a streaming function.
"""

from __future__ import annotations

import base64
import functools
import gc
import http.client
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.http.lambda_context import ContextUnmarshalError, LambdaContext
from gateway.http.runtime_api import Invocation, RuntimeApiClient, RuntimeApiError, json_bytes
from gateway.http.streaming import StreamedResponse, declare_streaming_runtime, proxy_result, write_timeout

DELIMITER = b"\x00" * 8
# API Gateway reads the prelude from the first 16 KB of the stream.
MAX_PRELUDE_BYTES = 16 * 1024
TRACE_ENV = "_X_AMZN_TRACE_ID"

Handler = Callable[[Any, Any], Any]


class InvalidResult(Exception):
    """The handler returned something that is neither a proxy result nor a StreamedResponse."""


def error_document(exc: BaseException, request_id: str | None = None, *, message: str | None = None) -> dict[str, Any]:
    """The Runtime API's error body. The exception's own message is left out unless ``message`` is given."""
    frames = traceback.extract_tb(exc.__traceback__)
    document: dict[str, Any] = {
        "errorMessage": message or f"{type(exc).__name__} raised while handling the request",
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }
    if request_id is not None:
        document["requestId"] = request_id
    return document


def xray_error_cause(exc: BaseException, error: Mapping[str, Any]) -> dict[str, Any]:
    """The X-Ray error cause AWS's Python runtime client sends with ``/error``: the error's type and message (ours,
    never the exception's) and the frames it was raised through."""
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "working_directory": os.getcwd(),
        "exceptions": [
            {
                "message": error["errorMessage"],
                "type": error["errorType"],
                "stack": [{"label": frame.name, "path": frame.filename, "line": frame.lineno} for frame in frames],
            }
        ],
        "paths": sorted({frame.filename for frame in frames}),
    }


def _log(level: str, message: str, **fields: Any) -> None:
    """One JSON line on stdout, as the functions' Powertools logger writes them (this module stays light)."""
    sys.stdout.write(json.dumps({"level": level, "message": message, **fields}, default=str) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------- the answer's framing


def _header_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidResult(f"{name} is not an object")
    return {str(k): str(v) for k, v in value.items()}


def prelude(result: Mapping[str, Any]) -> bytes:
    """The JSON prelude of API Gateway's HTTP integration response for a proxy result's status and headers."""
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        raise InvalidResult("statusCode is not an integer") from None
    metadata: dict[str, Any] = {"statusCode": status, "headers": _header_map(result.get("headers"), "headers")}
    multi = result.get("multiValueHeaders")
    if multi is not None:
        if not isinstance(multi, Mapping) or not all(isinstance(v, list) for v in multi.values()):
            raise InvalidResult("multiValueHeaders is not an object of lists")
        metadata["multiValueHeaders"] = {str(k): [str(v) for v in values] for k, values in multi.items()}
    cookies = result.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list):
            raise InvalidResult("cookies is not a list")
        metadata["cookies"] = [str(c) for c in cookies]
    encoded = json_bytes(metadata)  # JSON escapes NUL, so the delimiter cannot occur inside the prelude
    if len(encoded) > MAX_PRELUDE_BYTES:
        raise InvalidResult(f"status and headers take {len(encoded)} bytes; API Gateway reads at most 16 KB")
    return encoded


def proxy_body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidResult("body is not a string")
    if result.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise InvalidResult("body is not valid base64") from None
    return body.encode("utf-8")


# ---------------------------------------------------------------------------- one invocation


def invoke(client: RuntimeApiClient, handler: Handler, invocation: Invocation, *, streaming: bool = True) -> None:
    """Run the handler on one invocation and deliver its answer (or its error) to the Runtime API."""
    if invocation.trace_id:
        os.environ[TRACE_ENV] = invocation.trace_id
    else:
        os.environ.pop(TRACE_ENV, None)
    try:
        event = json.loads(invocation.event)
        result = handler(event, LambdaContext(invocation))
        if isinstance(result, StreamedResponse):
            head = prelude({"statusCode": result.status_code, "headers": result.headers})
            chunks: Iterable[Any] = result.body
        elif isinstance(result, Mapping):
            head = prelude(result)
            chunks = [proxy_body(result)]
        else:
            raise InvalidResult(f"the handler returned {type(result).__name__}, not a proxy result")
    except Exception as exc:
        message = str(exc) if isinstance(exc, InvalidResult | ContextUnmarshalError) else None
        error = error_document(exc, invocation.request_id, message=message)
        _log("ERROR", "the handler failed before answering", error_type=error["errorType"], trace=error["stackTrace"])
        client.post_error(invocation.request_id, error, xray_error_cause(exc, error))
        return

    if not streaming:
        _post_whole(client, invocation.request_id, result)
        return
    try:
        deadline = result.deadline if isinstance(result, StreamedResponse) else None
        _stream(client, invocation.request_id, head, chunks, deadline)
    finally:
        if isinstance(result, StreamedResponse):
            result.close()


def _post_whole(client: RuntimeApiClient, request_id: str, result: StreamedResponse | Mapping[str, Any]) -> None:
    """The buffered answer ``sam local`` expects: the proxy result, a StreamedResponse's body joined."""
    try:
        answer = json_bytes(proxy_result(result) if isinstance(result, StreamedResponse) else dict(result))
    except Exception as exc:
        error = error_document(exc, request_id)
        _log("ERROR", "the answer could not be assembled", error_type=error["errorType"], trace=error["stackTrace"])
        client.post_error(request_id, error, xray_error_cause(exc, error))
        return
    client.post_response(request_id, answer)


def _stream(
    client: RuntimeApiClient, request_id: str, head: bytes, chunks: Iterable[Any], deadline: float | None = None
) -> None:
    """Send the prelude at once, then each chunk as the body yields it; a body error ends it with trailers.
    No write waits past ``deadline`` (the request's): a reader that stalls gets its answer cut there."""
    try:
        stream = client.open_stream(request_id)
        stream.write(head + DELIMITER)
        error: dict[str, Any] | None = None
        items = iter(chunks)
        while True:
            try:
                chunk = _as_bytes(next(items))
            except StopIteration:
                break
            except Exception as exc:
                error = error_document(exc, request_id)
                _log(
                    "ERROR",
                    "the response body failed while streaming",
                    error_type=error["errorType"],
                    trace=error["stackTrace"],
                )
                break
            stream.write(chunk, write_timeout(deadline))
        stream.finish(error)
    except (OSError, http.client.HTTPException) as exc:
        # The Runtime API stopped reading: the client went away, or the environment is ending.
        client.reset()
        _log("WARNING", "the response stream was cut", error_type=type(exc).__name__)


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    raise TypeError(f"a StreamedResponse body yielded {type(item).__name__}, not bytes")


# ---------------------------------------------------------------------------- the process


class InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(spec: str) -> Handler:
    """The function ``module.name`` of ``_HANDLER``, imported the way the managed runtime imports it."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': expected module.function")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SyntaxError as exc:
        raise InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from exc
    except ImportError as exc:
        raise InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise InitError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def ending_cold_start(handler: Handler) -> Handler:
    """``handler`` for the first invocation, which ends the cold start: ``main`` turns the cyclic garbage collector
    off before importing the function, and this turns it back on when the first call returns (before a streamed
    body is sent). Importing the function and serving its first request allocate mostly objects that live as
    long as the process (modules, classes, models, clients), which the collector traversed ~200 times for
    nothing (50-60 ms of CPU on a chat cold start). ``gc.freeze`` then moves them out of the collector's reach, so
    a warm request's full collection does not walk them either."""

    @functools.wraps(handler)
    def first_call(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            gc.freeze()
            gc.enable()

    return first_call


def serve(client: RuntimeApiClient, handler: Handler, *, streaming: bool = True, cold_start: bool = False) -> None:
    """Answer invocations until the Runtime API goes away (raises RuntimeApiError then). ``cold_start``: the
    first invocation ends it (``ending_cold_start``)."""
    declare_streaming_runtime()
    if cold_start:
        invoke(client, ending_cold_start(handler), client.next_invocation(), streaming=streaming)
    while True:
        invocation = client.next_invocation()
        invoke(client, handler, invocation, streaming=streaming)


def main() -> int:
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    client = RuntimeApiClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    gc.disable()  # until the first invocation returns: see ending_cold_start
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except InitError as exc:
        error = {"errorMessage": str(exc), "errorType": exc.error_type, "stackTrace": []}
        _log("ERROR", "the function could not be loaded", error_type=exc.error_type, error=str(exc))
        client.post_init_error(error)
        return 1
    except Exception as exc:
        # An error while importing the handler's module (its own code, or a missing setting).
        error = error_document(exc)
        _log("ERROR", "the function failed while loading", error_type=error["errorType"], trace=error["stackTrace"])
        client.post_init_error(error)
        return 1
    try:
        serve(client, handler, streaming=os.environ.get("AWS_SAM_LOCAL") != "true", cold_start=True)
    except RuntimeApiError as exc:
        _log("ERROR", "the Runtime API went away", reason=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
