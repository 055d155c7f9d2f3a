"""Provider simulator: a local HTTP server speaking each upstream LLM provider's real wire format.

Used by `make dev` and the integration tests instead of the real providers; see `ProviderSimulator`.
"""

from local.simulator.google_oauth import make_service_account
from local.simulator.server import ProviderSimulator
from local.simulator.wire import RecordedRequest

__all__ = ["ProviderSimulator", "RecordedRequest", "make_service_account"]
