"""Version of the rendering engine; part of every cache key."""

from __future__ import annotations

# Bump whenever a change alters rendered pixels or encoding, so cached renditions expire.
ENGINE_VERSION = "blur-1"
