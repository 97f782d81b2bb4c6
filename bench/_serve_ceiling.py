"""The ceiling for bench/serve.py: a bare Flask app that only sends files with ``send_file``.

Run by gunicorn next to the gateway, with the same worker count, on the same cached
rendition files (``BENCH_CEILING_FILES``, separated by ``os.pathsep``): no session, no
database, no break check, no cache verification. Whatever the gateway does beyond this is
the price of authentication, the break check and the ledger.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, send_file


def create_app() -> Flask:
    paths = [p for p in os.environ.get("BENCH_CEILING_FILES", "").split(os.pathsep) if p]
    app = Flask(__name__)

    @app.get("/file/<int:index>")
    def file(index: int) -> Response:
        if not 0 <= index < len(paths):
            abort(404)
        return send_file(paths[index], mimetype="image/jpeg")

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app
