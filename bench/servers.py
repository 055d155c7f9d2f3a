"""The benchmark's helper servers, each in its own process so their work never shares the measured GIL.

``python -m bench.servers sim`` runs the provider simulator (lenient: any well-formed credential works);
``python -m bench.servers aws`` runs moto's server. Each prints one JSON line describing itself, then serves
until its stdin closes.

Both servers get ``TCP_NODELAY`` on their accepted sockets, and moto's also HTTP/1.1 keep-alive (werkzeug's
default is a new connection per call): stdlib HTTP servers write headers and body separately, and Nagle's
algorithm with the client's delayed ACK would otherwise stall many answers by about 40 ms. That stall is not
what a provider or DynamoDB does, and it is subtracted anyway (upstream wait, AWS time), but it slowed the run
and added noise to it.
"""

from __future__ import annotations

import json
import sys


def main(kind: str) -> None:
    if kind == "sim":
        from local.simulator import ProviderSimulator
        from local.simulator.server import _Handler

        _Handler.disable_nagle_algorithm = True
        sim = ProviderSimulator(strict=False).start()
        print(json.dumps({"url": sim.url, "token_uri": sim.token_uri, "env": sim.upstream_env()}), flush=True)
    elif kind == "aws":
        import logging

        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from moto.server import ThreadedMotoServer

        MotoRequestHandler.disable_nagle_algorithm = True
        MotoRequestHandler.protocol_version = "HTTP/1.1"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        print(json.dumps({"url": f"http://{host}:{port}"}), flush=True)
    else:
        raise SystemExit(f"unknown server {kind!r}: expected sim or aws")
    sys.stdin.read()  # the parent closes our stdin (or exits) to stop us


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
