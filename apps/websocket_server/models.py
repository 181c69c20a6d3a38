"""Models of ``apps.websocket_server``: ASGI routing, consumers and event fan-out."""
