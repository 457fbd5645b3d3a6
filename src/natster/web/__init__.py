"""natster's web UI: an ASGI app serving the user's library from their own machine."""

from ._app import create_app
from ._server import serve

__all__ = ["create_app", "serve"]
