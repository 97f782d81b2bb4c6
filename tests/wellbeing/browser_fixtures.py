"""A live server and a real Chromium for the browser tests of the safe viewer.

The app runs in werkzeug's threaded server on 127.0.0.1 in a background thread; Chromium is
Debian's (WELLBEING_CHROMIUM or ``chromium`` on PATH), driven by Playwright. Without either,
the tests skip with the reason; WELLBEING_REQUIRE_BROWSER=1 (set by CI) makes them fail.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import pytest
from flask import Flask
from PIL import Image
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-color-profile=srgb",  # screenshots and canvas reads in plain sRGB
]


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("WELLBEING_REQUIRE_BROWSER", "") not in ("", "0", "false"):
        pytest.fail(f"Chromium required (WELLBEING_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"{reason}; set WELLBEING_CHROMIUM or install chromium and playwright")


def chromium_executable() -> str | None:
    return os.environ.get("WELLBEING_CHROMIUM") or shutil.which("chromium")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for the block, or a skip (a failure when the browser is required)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright is not installed ({exc})")
    executable = chromium_executable()
    if not executable or not os.access(executable, os.X_OK):
        _unavailable(f"no Chromium executable found (tried {executable or 'chromium on PATH'})")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            _unavailable(f"Chromium at {executable} did not start: {exc.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(WSGIRequestHandler):
    """Logs nothing and lets the server hang up on idle keep-alive connections at shutdown."""

    open_connections: set[socket.socket]

    def setup(self) -> None:
        super().setup()
        self.open_connections.add(self.connection)

    def finish(self) -> None:
        self.open_connections.discard(self.connection)
        super().finish()

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve the app on a free port until the block ends; yields the base URL.

    On exit every handler thread is joined and every socket closed, so nothing leaks into the
    next test (warnings are errors).
    """
    handler = type("Handler", (_QuietHandler,), {"open_connections": set()})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    server.daemon_threads = False
    server.block_on_close = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        # Chromium may keep idle keep-alive connections open; end them so their threads exit.
        for conn in list(handler.open_connections):
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads


@dataclass
class Network:
    """Every request a page made and every response body it received."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    bodies: dict[str, list[bytes]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("request", lambda req: self.requests.append((req.method, req.url)))
        page.on("response", self._response)

    def _response(self, response: Any) -> None:
        try:
            body = response.body()
        except Exception:
            self.unreadable.append(response.url)
            return
        self.bodies.setdefault(response.url, []).append(body)

    def to(self, path_part: str) -> list[tuple[str, str]]:
        return [(method, url) for method, url in self.requests if path_part in url]

    def received(self, data: bytes) -> list[str]:
        """URLs whose response body contained these bytes."""
        return [url for url, bodies in self.bodies.items() if any(data in b for b in bodies)]


_PIXELS_JS = """async (img) => {
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext("2d").drawImage(img, 0, 0);
  return canvas.toDataURL("image/png");
}"""


def shown_pixels(page: Any, selector: str = "#media") -> np.ndarray:
    """The decoded pixels of an <img> on the page (RGB, natural size), read through a canvas."""
    url: str = page.locator(selector).evaluate(_PIXELS_JS)
    png = base64.b64decode(url.partition(",")[2])
    return np.asarray(Image.open(io.BytesIO(png), formats=["PNG"]).convert("RGB"))


def screen_pixels(page: Any, selector: str = "#media") -> np.ndarray:
    """What the screen shows where the element is (RGB, CSS pixels at device scale 1)."""
    box = page.locator(selector).bounding_box()
    clip = {key: round(box[key]) for key in ("x", "y", "width", "height")}
    png = page.screenshot(clip=clip)
    return np.asarray(Image.open(io.BytesIO(png), formats=["PNG"]).convert("RGB"))
