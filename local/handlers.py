"""Load the functions' Lambda handlers in this process, the way the Lambda runtime would find them.

Every function's module is called ``app.py``, so each is loaded from its file under a unique module name
(``fn_<dir>``) instead of being imported by name. The shared layer is put on ``sys.path`` first, as Lambda
puts ``/opt/python`` there.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = REPO_ROOT / "layers" / "gateway"

Handler = Callable[[dict[str, Any], Any], Any]  # a proxy result dict, or a gateway.http.streaming.StreamedResponse

_lock = threading.Lock()
_handlers: dict[str, Handler] = {}


def ensure_layer_importable() -> None:
    """Make ``import gateway`` work, as the Lambda layer does in AWS."""
    layer = str(LAYER_DIR)
    if layer not in sys.path:
        sys.path.insert(0, layer)


def load_handler(code_dir: str) -> Handler:
    """``lambda_handler`` of ``<code_dir>/app.py`` (``code_dir`` relative to the repository), loaded once."""
    with _lock:
        cached = _handlers.get(code_dir)
        if cached is not None:
            return cached
        ensure_layer_importable()
        path = REPO_ROOT / code_dir / "app.py"
        if not path.is_file():
            raise FileNotFoundError(f"no handler module at {path.relative_to(REPO_ROOT)}")
        name = f"fn_{Path(code_dir).name}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        handler = getattr(module, "lambda_handler", None)
        if not callable(handler):
            raise ImportError(f"{path.relative_to(REPO_ROOT)} has no callable lambda_handler")
        _handlers[code_dir] = handler
        return handler


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    timeout_s: float
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "us-east-1"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))
