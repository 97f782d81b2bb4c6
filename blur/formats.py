"""The allow-list of image formats, recognised by magic bytes only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # our name, as in MediaInfo.format
    mime: str
    pillow: str  # the only Pillow plugin allowed to open it


FORMATS = {
    f.name: f
    for f in (
        Format("jpeg", "image/jpeg", "JPEG"),
        Format("png", "image/png", "PNG"),
        Format("gif", "image/gif", "GIF"),
        Format("webp", "image/webp", "WEBP"),
        Format("bmp", "image/bmp", "BMP"),
    )
}

# Sizes of the BMP info headers Pillow understands; "BM" alone is too weak a signature.
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}

# Formats we refuse, recognised only to give a clearer reason (and a better security event).
_REFUSED = (
    (b"%PDF", "PDF"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS (DOS binary)"),
    (b"8BPS", "Photoshop PSD"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "Windows icon"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM video"),
)


def sniff(data: bytes) -> str | None:
    """Name of the allowed format the bytes start with ('jpeg', 'png', ...), or None.

    MPO (a JPEG followed by more pictures, from phones and 3D cameras) is a JPEG here:
    only the first picture is decoded and it counts as one frame. Pillow opens it under
    the JPEG plugin; the extra pictures are never shown.
    """
    head = bytes(data[:32])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if (
        len(head) >= 18
        and head.startswith(b"BM")
        and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES
    ):
        return "bmp"
    return None


def describe_refused(data: bytes) -> str:
    """A human guess at what a refused input is, for the rejection reason."""
    head = bytes(data[:512])
    for magic, name in _REFUSED:
        if head.startswith(magic):
            return name
    if head[4:8] == b"ftyp":
        return "ISO media (MP4/MOV/HEIC/AVIF)"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<?xml", b"<svg")) or b"<svg" in stripped:
        return "SVG/XML"
    if stripped.startswith((b"<!doctype html", b"<html", b"<script")):
        return "HTML"
    return "unknown"
