"""The `/_sim/*` HTTP control API: the same knobs as the Python API, for humans and other processes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from local.simulator.faults import Fault
from local.simulator.pacing import Pacing
from local.simulator.wire import Call, Reply, json_reply

if TYPE_CHECKING:
    from local.simulator.server import ProviderSimulator

_OK = {"ok": True}
SETTLE_TIMEOUT_S = 10.0


def handle_control(sim: ProviderSimulator, call: Call) -> Reply:
    resource = call.path.removeprefix("/_sim/").strip("/")
    if resource == "faults":
        if call.method == "POST":
            return _arm(sim, call.json)
        if call.method == "DELETE":
            sim.clear_faults()
            return json_reply(200, _OK)
        if call.method == "GET":
            return json_reply(200, {"data": sim.armed_faults()})
    if resource == "pacing":
        if call.method == "POST":
            return _pace(sim, call.json)
        if call.method == "DELETE":
            sim.clear_pacing()
            return json_reply(200, _OK)
        if call.method == "GET":
            return json_reply(200, {"data": [handle.snapshot() for handle in sim.pacings()]})
    if resource == "pacing/release" and call.method == "POST":
        return _release(sim, call.json)
    if resource == "requests":
        if call.method == "GET":
            return json_reply(200, {"data": [recorded.to_dict() for recorded in sim.requests]})
        if call.method == "DELETE":
            sim.clear_requests()
            return json_reply(200, _OK)
    if resource == "in-flight" and call.method == "GET":
        return json_reply(200, {"in_flight": sim.in_flight})
    if resource == "settle" and call.method == "POST":
        return _settle(sim, call.json)
    if resource == "accept" and call.method == "POST":
        return _accept(sim, call.json)
    return _problem(404, f"no control route {call.method} {call.path}")


def _arm(sim: ProviderSimulator, body: Any) -> Reply:
    if not isinstance(body, dict):
        return _problem(400, "expected a JSON object with the fail() keyword arguments")
    try:
        fault = Fault.model_validate(body)
    except ValidationError as error:
        return _problem(400, str(error))
    sim.arm(fault)
    return json_reply(201, _OK)


def _pace(sim: ProviderSimulator, body: Any) -> Reply:
    if not isinstance(body, dict):
        return _problem(400, "expected a JSON object with the pace() keyword arguments")
    try:
        pacing = Pacing.model_validate(body)
    except ValidationError as error:
        return _problem(400, str(error))
    sim.arm_pacing(pacing)
    return json_reply(201, _OK)


def _release(sim: ProviderSimulator, body: Any) -> Reply:
    """``{"provider"?: slug, "count"?: n}``: let ``count`` held chunks go out on every matching pacing."""
    body = body if isinstance(body, dict) else {}
    count = body.get("count", 1)
    provider = body.get("provider")
    if not isinstance(count, int) or count < 1 or not (provider is None or isinstance(provider, str)):
        return _problem(400, 'expected {"provider"?: str, "count"?: int >= 1}')
    for handle in sim.pacings(provider):
        handle.release(count)
    return json_reply(200, _OK)


def _settle(sim: ProviderSimulator, body: Any) -> Reply:
    """``{"timeout"?: seconds}``: `ProviderSimulator.settle`; answers once it is done, with what is left."""
    body = body if isinstance(body, dict) else {}
    timeout = body.get("timeout", SETTLE_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 60:
        return _problem(400, 'expected {"timeout"?: seconds, 0 to 60}')
    settled = sim.settle(float(timeout))
    return json_reply(200, {"settled": settled, "in_flight": sim.in_flight})


def _accept(sim: ProviderSimulator, body: Any) -> Reply:
    if not isinstance(body, dict):
        return _problem(400, "expected a JSON object")
    if isinstance(body.get("service_account"), dict):
        try:
            sim.accept_service_account(body["service_account"])
        except (KeyError, ValueError, TypeError) as error:
            return _problem(400, f"unusable service account: {type(error).__name__}")
        return json_reply(200, _OK)
    if isinstance(body.get("access_key_id"), str) and isinstance(body.get("secret_access_key"), str):
        sim.accept_aws(body["access_key_id"], body["secret_access_key"])
        return json_reply(200, _OK)
    if isinstance(body.get("provider"), str) and isinstance(body.get("api_key"), str):
        sim.accept_api_key(body["provider"], body["api_key"])
        return json_reply(200, _OK)
    return _problem(
        400, 'expected {"provider","api_key"}, {"access_key_id","secret_access_key"} or {"service_account"}'
    )


def _problem(status: int, message: str) -> Reply:
    return json_reply(status, {"error": {"message": message}})
