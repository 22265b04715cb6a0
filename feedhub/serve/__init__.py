"""Serving the published documents over HTTP (WSGI app, waitress server)."""
