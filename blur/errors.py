"""Typed failures of the media engine: a refusal of the input, or an internal failure."""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error the engine raises.

    ``code`` is a short stable machine string (for logs, metrics and HTTP mapping);
    ``reason`` is a sentence a person can read.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class MediaRejected(MediaError):
    """The input is unacceptable (empty, too large, unsupported, corrupt, a bomb...).

    Codes: empty, too_large, unsupported_format, too_many_pixels, too_many_frames,
    too_many_scans, truncated, corrupt, decompression_bomb.
    """


class RenderFailed(MediaError):
    """The engine failed on acceptable-looking input (a bug or resource exhaustion).

    Codes: internal, out_of_memory.
    """
