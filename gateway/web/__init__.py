"""The HTTP face of the gateway: the aiohttp app (app.py, the one composition root), its routes, middlewares, console, metrics and webhooks."""
