"""The HTTP API and the browser app's host: ``create_app(...)`` builds a FastAPI app."""

from exbert.server.app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
