"""Header-only inspection of untrusted video in pure Python: safe to run in the web process.

No libav code runs here: libavformat's stream probing decodes frames, so the web process
reads the MP4/MOV box tree and the WebM EBML tree itself, bounded by the byte size and an
element budget, and applies every cap before the isolated worker ever decodes.
The worker checks again with libav (``video_decode``): both views must pass.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from .errors import MediaRejected
from .video_limits import (
    AUDIO_CODECS,
    DEFAULT_VIDEO_LIMITS,
    VIDEO_CODECS,
    WEBM_AUDIO_CODECS,
    WEBM_VIDEO_CODECS,
    VideoLimits,
)
from .video_rendition import VideoInfo

MIMES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}
MAX_ELEMENTS = 400_000  # boxes or EBML elements walked; a 10 min 120 fps clip needs ~100k
_MAX_DEPTH = 12

# ftyp brands of still-image and non-video ISO files that must not pass as video.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"jp2 "}
_TEXT_PLAYLISTS = (
    (b"#EXTM3U", "an HLS/M3U playlist"),
    (b"ffconcat", "an ffmpeg concat script"),
    (b"<?xml", "an XML document (DASH manifest, SMIL, ...)"),
    (b"<MPD", "a DASH manifest"),
    (b"[playlist]", "a PLS playlist"),
    (b"v=0", "an SDP session description"),
)
_PROTOCOLS = (b"concat:", b"file:", b"http:", b"https:", b"rtmp:", b"rtsp:", b"subfile,", b"data:")


@dataclass
class _Track:
    kind: str = ""  # 'video' | 'audio' | other handler or codec type
    codec: str | None = None
    width: int = 0
    height: int = 0
    timescale: int = 0
    duration: int = 0  # in timescale units (MP4) or seconds x 1e9 (WebM)
    samples: int = 0
    sample_time: int = 0  # summed sample durations, timescale units
    rotation: int = 0
    default_duration_ns: int = 0  # WebM
    track_id: int = 0


@dataclass
class _Movie:
    tracks: list[_Track] = field(default_factory=list)
    seconds: float = 0.0


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_ELEMENTS

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise MediaRejected("corrupt", "the container has too many boxes or elements")


def sniff_video(data: bytes) -> str | None:
    """'mp4', 'mov' or 'webm' from magic bytes (ftyp box, EBML DocType), or None."""
    head = bytes(data[:64])
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), 4 + _u32(head, 0)), 4)}
        if head[8:12] in _IMAGE_BRANDS or (brands & _IMAGE_BRANDS and b"isom" not in brands):
            return None
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3") and _ebml_doctype(data) == "webm":
        return "webm"
    return None


def probe_video(data: bytes, limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> VideoInfo:
    """Check untrusted video from its headers only; raise MediaRejected if unacceptable."""
    if not data:
        raise MediaRejected("empty", "the file is empty")
    if len(data) > limits.max_bytes:
        raise MediaRejected(
            "too_large", f"the file is {len(data)} bytes; the limit is {limits.max_bytes}"
        )
    container = sniff_video(data)
    if container is None:
        _refuse_unknown(data)
    try:
        movie = _read_webm(data) if container == "webm" else _read_iso(data)
    except MediaRejected:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, RecursionError) as exc:
        raise MediaRejected("corrupt", f"the container headers cannot be read: {exc}") from None
    assert container is not None
    return _checked(container, movie, limits)


def _refuse_unknown(data: bytes) -> None:
    head = bytes(data[:1024]).lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, name in _TEXT_PLAYLISTS:
        if head.startswith(magic):
            raise MediaRejected("playlist", f"refused {name}: only plain video files are shown")
    if any(head.lower().startswith(p) for p in _PROTOCOLS) or b"#EXT-X-" in head:
        raise MediaRejected("playlist", "refused a playlist or protocol reference")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        raise MediaRejected(
            "unsupported_format", "Matroska that is not WebM (DocType is not 'webm')"
        )
    if len(head) >= 12 and head[4:8] == b"ftyp":
        raise MediaRejected("unsupported_format", "an ISO media file that is not a video")
    raise MediaRejected("unsupported_format", "not an allowed video format (MP4, MOV, WebM)")


def _checked(container: str, movie: _Movie, limits: VideoLimits) -> VideoInfo:
    if len(movie.tracks) > limits.max_streams:
        raise MediaRejected(
            "too_many_streams",
            f"{len(movie.tracks)} streams; the limit is {limits.max_streams}",
        )
    videos = [t for t in movie.tracks if t.kind == "video"]
    audios = [t for t in movie.tracks if t.kind == "audio"]
    if not videos:
        raise MediaRejected("corrupt", "the file has no video stream")
    allowed_video = WEBM_VIDEO_CODECS if container == "webm" else VIDEO_CODECS
    allowed_audio = WEBM_AUDIO_CODECS if container == "webm" else AUDIO_CODECS
    for track in videos:
        if track.codec not in allowed_video:
            raise MediaRejected(
                "unsupported_codec", f"video codec {track.codec or 'unknown'} is not allowed"
            )
    for track in audios:
        if track.codec not in allowed_audio:
            raise MediaRejected(
                "unsupported_codec", f"audio codec {track.codec or 'unknown'} is not allowed"
            )
    video = videos[0]
    for track in videos:
        if track.width < 1 or track.height < 1:
            raise MediaRejected("corrupt", f"a video stream claims {track.width}x{track.height}")
        if not limits.fits(track.width, track.height):
            raise MediaRejected(
                "too_many_pixels",
                f"{track.width}x{track.height} exceeds {limits.max_width}x{limits.max_height}",
            )
    seconds = movie.seconds
    for track in movie.tracks:
        seconds = max(seconds, _track_seconds(track))
    if not math.isfinite(seconds) or seconds <= 0:
        raise MediaRejected("corrupt", "the file declares no duration")
    if seconds > limits.max_seconds:
        raise MediaRejected(
            "too_long", f"the clip lasts {seconds:.0f} s; the limit is {limits.max_seconds:.0f} s"
        )
    fps = _fps(video, seconds)
    if fps > limits.max_fps:
        raise MediaRejected(
            "too_many_frames", f"{fps:.0f} frames per second; the limit is {limits.max_fps:.0f}"
        )
    width, height = video.width, video.height
    if video.rotation in (90, 270):
        width, height = height, width
    audio = audios[0].codec if audios else None
    return VideoInfo(
        container=container,
        mime=MIMES[container],
        width=width,
        height=height,
        duration_seconds=round(seconds, 6),
        fps=round(fps, 3),
        video_codec=str(video.codec),
        audio_codec=audio,
        has_audio=audio is not None,
        rotation=video.rotation,
    )


def _track_seconds(track: _Track) -> float:
    if track.timescale > 0:
        return max(track.duration, track.sample_time) / track.timescale
    return track.duration / 1e9  # WebM tracks carry nanoseconds


def _fps(video: _Track, seconds: float) -> float:
    if video.default_duration_ns > 0:
        return 1e9 / video.default_duration_ns
    track_seconds = _track_seconds(video) or seconds
    if video.samples > 0 and track_seconds > 0:
        return video.samples / track_seconds
    return 0.0


def _u32(data: bytes, pos: int) -> int:
    return int(struct.unpack_from(">I", data, pos)[0])


# --- ISO base media (MP4, MOV) -------------------------------------------------------


def _boxes(data: bytes, start: int, end: int, budget: _Budget) -> list[tuple[bytes, int, int]]:
    """(type, body start, body end) of the boxes in data[start:end]; 'truncated' if cut."""
    out = []
    pos = start
    while pos + 8 <= end:
        budget.spend()
        size = _u32(data, pos)
        kind = bytes(data[pos + 4 : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise MediaRejected("truncated", "the file ends inside a box header")
            size = int(struct.unpack_from(">Q", data, pos + 8)[0])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise MediaRejected("corrupt", f"box {kind!r} has an impossible size {size}")
        if pos + size > end:
            raise MediaRejected("truncated", f"the file ends inside the {kind!r} box")
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def _read_iso(data: bytes) -> _Movie:
    budget = _Budget()
    top = _boxes(data, 0, len(data), budget)
    moovs = [(s, e) for kind, s, e in top if kind == b"moov"]
    if len(moovs) != 1:
        raise MediaRejected("corrupt", "the file needs exactly one movie header (moov box)")
    movie = _Movie()
    trex: dict[int, int] = {}
    start, end = moovs[0]
    timescale = 0
    for kind, s, e in _boxes(data, start, end, budget):
        if kind == b"mvhd":
            timescale, duration = _mvhd(data, s)
            if timescale > 0:
                movie.seconds = duration / timescale
        elif kind == b"trak":
            movie.tracks.append(_trak(data, s, e, budget))
        elif kind == b"mvex":
            for sub, ss, _ in _boxes(data, s, e, budget):
                if sub == b"mehd" and timescale > 0:
                    version = data[ss]
                    value = (
                        struct.unpack_from(">Q", data, ss + 4)[0]
                        if version == 1
                        else _u32(data, ss + 4)
                    )
                    movie.seconds = max(movie.seconds, value / timescale)
                elif sub == b"trex":
                    trex[_u32(data, ss + 4)] = _u32(data, ss + 12)
    fragments = [(s, e) for kind, s, e in top if kind == b"moof"]
    if fragments:
        _add_fragments(data, fragments, movie, trex, budget)
    return movie


def _mvhd(data: bytes, pos: int) -> tuple[int, int]:
    if data[pos] == 1:
        return _u32(data, pos + 20), int(struct.unpack_from(">Q", data, pos + 24)[0])
    return _u32(data, pos + 12), _u32(data, pos + 16)


def _trak(data: bytes, start: int, end: int, budget: _Budget) -> _Track:
    track = _Track()
    for kind, s, e in _boxes(data, start, end, budget):
        if kind == b"tkhd":
            _tkhd(data, s, e, track)
        elif kind == b"mdia":
            for sub, ss, se in _boxes(data, s, e, budget):
                if sub == b"mdhd":
                    version = data[ss]
                    if version == 1:
                        track.timescale = _u32(data, ss + 20)
                        track.duration = int(struct.unpack_from(">Q", data, ss + 24)[0])
                    else:
                        track.timescale = _u32(data, ss + 12)
                        track.duration = _u32(data, ss + 16)
                elif sub == b"hdlr":
                    handler = bytes(data[ss + 8 : ss + 12])
                    track.kind = {b"vide": "video", b"soun": "audio"}.get(
                        handler, handler.decode("latin-1")
                    )
                elif sub == b"minf":
                    _minf(data, ss, se, track, budget)
    if track.duration == 0xFFFFFFFF:  # "unknown" in a 32-bit mdhd
        track.duration = 0
    return track


def _tkhd(data: bytes, start: int, end: int, track: _Track) -> None:
    version = data[start]
    track.track_id = _u32(data, start + (20 if version == 1 else 12))
    matrix = end - 8 - 36
    a, b = struct.unpack_from(">ii", data, matrix)
    track.rotation = {(0, 1): 90, (-1, 0): 180, (0, -1): 270}.get((_sign(a), _sign(b)), 0)
    track.width = max(track.width, _u32(data, end - 8) >> 16)
    track.height = max(track.height, _u32(data, end - 4) >> 16)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _minf(data: bytes, start: int, end: int, track: _Track, budget: _Budget) -> None:
    for kind, s, e in _boxes(data, start, end, budget):
        if kind != b"stbl":
            continue
        for sub, ss, se in _boxes(data, s, e, budget):
            if sub == b"stsd":
                _stsd(data, ss, se, track, budget)
            elif sub == b"stts":
                count = _u32(data, ss + 4)
                if 8 + 8 * count > se - ss:
                    raise MediaRejected("corrupt", "the sample time table is cut short")
                for index in range(count):
                    budget.spend()
                    samples, delta = struct.unpack_from(">II", data, ss + 8 + 8 * index)
                    track.samples += samples
                    track.sample_time += samples * delta


_ISO_VIDEO = {
    b"avc1": "h264",
    b"avc3": "h264",
    b"hvc1": "hevc",
    b"hev1": "hevc",
    b"vp08": "vp8",
    b"vp09": "vp9",
    b"av01": "av1",
}
_ISO_AUDIO = {b"Opus": "opus", b".mp3": "mp3", b"ms\x00\x55": "mp3"}
# MPEG-4 objectTypeIndication values (ISO/IEC 14496-1 registry).
_OTI = {0x20: "mpeg4", 0x40: "aac", 0x66: "aac", 0x67: "aac", 0x68: "aac", 0x69: "mp3", 0x6B: "mp3"}


def _stsd(data: bytes, start: int, end: int, track: _Track, budget: _Budget) -> None:
    count = _u32(data, start + 4)
    if count < 1:
        raise MediaRejected("corrupt", "a track has no sample description")
    entries = _boxes(data, start + 8, end, budget)
    if not entries:
        raise MediaRejected("corrupt", "a track has no sample description")
    formats = {kind for kind, _, _ in entries}
    if len(formats) > 1:  # one codec per track; a switch mid-stream is a smuggling trick
        track.codec = "mixed:" + ",".join(sorted(f.decode("latin-1") for f in formats))
        return
    kind, s, e = entries[0]
    if track.kind == "video":
        track.codec = _ISO_VIDEO.get(kind)
        if kind == b"mp4v":
            track.codec = _esds_codec(data, s, e)
        elif track.codec is None:
            track.codec = kind.decode("latin-1")
        width, height = struct.unpack_from(">HH", data, s + 24)
        track.width = max(track.width, width)
        track.height = max(track.height, height)
    elif track.kind == "audio":
        track.codec = _ISO_AUDIO.get(kind)
        if kind == b"mp4a":
            track.codec = _esds_codec(data, s, e)
        elif track.codec is None:
            track.codec = kind.decode("latin-1")


def _esds_codec(data: bytes, start: int, end: int) -> str | None:
    """Codec named by the objectTypeIndication of the (first) esds box in an entry."""
    at = bytes(data[start:end]).find(b"esds")
    if at < 4:
        return None
    pos = start + at + 4 + 4  # past the box type, version and flags
    pos, tag = _descriptor(data, pos, end)
    if tag != 0x03:
        return None
    flags = data[pos + 2]
    pos += 3
    if flags & 0x80:
        pos += 2
    if flags & 0x40:
        pos += 1 + data[pos]
    if flags & 0x20:
        pos += 2
    pos, tag = _descriptor(data, pos, end)
    if tag != 0x04:
        return None
    return _OTI.get(data[pos], f"object type 0x{data[pos]:02x}")


def _descriptor(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Skip an MPEG-4 descriptor header; return (payload position, tag)."""
    if pos >= end:
        raise MediaRejected("corrupt", "a codec descriptor is cut short")
    tag = data[pos]
    pos += 1
    for _ in range(4):  # expandable length: up to 4 bytes, high bit continues
        if data[pos] & 0x80 == 0:
            return pos + 1, tag
        pos += 1
    return pos, tag


def _add_fragments(
    data: bytes,
    fragments: list[tuple[int, int]],
    movie: _Movie,
    trex: dict[int, int],
    budget: _Budget,
) -> None:
    """Add the samples and durations of movie fragments (moof/traf/trun) to their tracks."""
    by_id = {t.track_id: t for t in movie.tracks}
    for start, end in fragments:
        for kind, s, e in _boxes(data, start, end, budget):
            if kind != b"traf":
                continue
            track: _Track | None = None
            default = 0
            for sub, ss, se in _boxes(data, s, e, budget):
                if sub == b"tfhd":
                    flags = int.from_bytes(data[ss + 1 : ss + 4], "big")
                    track_id = _u32(data, ss + 4)
                    track = by_id.get(track_id)
                    default = trex.get(track_id, 0)
                    pos = ss + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
                    if flags & 0x08:
                        default = _u32(data, pos)
                elif sub == b"trun" and track is not None:
                    _trun(data, ss, se, track, default, budget)


def _trun(data: bytes, start: int, end: int, track: _Track, default: int, budget: _Budget) -> None:
    flags = int.from_bytes(data[start + 1 : start + 4], "big")
    count = _u32(data, start + 4)
    pos = start + 8 + (4 if flags & 0x001 else 0) + (4 if flags & 0x004 else 0)
    per_sample = 4 * bin(flags & 0xF00).count("1")
    track.samples += count
    if not flags & 0x100:
        track.sample_time += count * default
        return
    if pos + count * per_sample > end:
        raise MediaRejected("corrupt", "a fragment's sample table is cut short")
    for index in range(count):
        budget.spend()
        track.sample_time += _u32(data, pos + index * per_sample)


# --- WebM (EBML) ---------------------------------------------------------------------

_SEGMENT, _CLUSTER = 0x18538067, 0x1F43B675
_LEVEL1 = {0x114D9B74, 0x1549A966, 0x1654AE6B, _CLUSTER, 0x1C53BB6B, 0x1043A770, 0x1254C367}
_LEVEL1 |= {0x1941A469}
_UNKNOWN = -1


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at pos: (value, length). IDs keep their marker bit."""
    if pos >= len(data):
        raise MediaRejected("truncated", "the file ends inside an element header")
    first = data[pos]
    if first == 0:
        raise MediaRejected("corrupt", "an element header is invalid")
    length = 9 - first.bit_length()
    if pos + length > len(data):
        raise MediaRejected("truncated", "the file ends inside an element header")
    value = int.from_bytes(data[pos : pos + length], "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
        if value == (1 << (7 * length)) - 1:
            value = _UNKNOWN
    return value, length


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(id, body start, body size or _UNKNOWN) of the element at pos."""
    ident, id_len = _vint(data, pos, keep_marker=True)
    size, size_len = _vint(data, pos + id_len, keep_marker=False)
    return ident, pos + id_len + size_len, size


def _children(data: bytes, start: int, end: int, budget: _Budget) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end:
        budget.spend()
        ident, body, size = _element(data, pos)
        if size == _UNKNOWN or body + size > end:
            raise MediaRejected("truncated", "the file ends inside an element")
        out.append((ident, body, body + size))
        pos = body + size
    return out


def _uint(data: bytes, start: int, end: int) -> int:
    return int.from_bytes(data[start:end], "big") if end - start <= 8 else 0


def _ebml_doctype(data: bytes) -> str | None:
    try:
        _, body, size = _element(data, 0)
        if size == _UNKNOWN or body + size > len(data):
            return None
        for child, s, e in _children(data, body, body + size, _Budget()):
            if child == 0x4282:
                return bytes(data[s:e]).rstrip(b"\x00").decode("ascii", "replace")
    except MediaRejected:
        return None
    return None


def _read_webm(data: bytes) -> _Movie:
    budget = _Budget()
    _, body, size = _element(data, 0)
    pos = body + size
    ident, body, size = _element(data, pos)
    while ident in (0xEC, 0xBF):  # Void or CRC-32 before the segment
        pos = body + size
        ident, body, size = _element(data, pos)
    if ident != _SEGMENT:
        raise MediaRejected("corrupt", "the WebM file has no segment")
    end = len(data) if size == _UNKNOWN else body + size
    if end > len(data):
        raise MediaRejected("truncated", "the file ends before the WebM segment does")
    movie = _Movie()
    scale = 1_000_000
    declared = 0.0
    scan = _ClusterScan()
    pos = body
    while pos < end:
        budget.spend()
        ident, child, child_size = _element(data, pos)
        if child_size == _UNKNOWN:
            if ident != _CLUSTER:
                raise MediaRejected("corrupt", "only clusters may have an unknown size")
            pos = scan.cluster(data, child, end, budget)
            continue
        child_end = child + child_size
        if child_end > end:
            raise MediaRejected("truncated", "the file ends inside a WebM element")
        if ident == 0x1549A966:  # Info
            for sub, s, e in _children(data, child, child_end, budget):
                if sub == 0x2AD7B1:
                    scale = _uint(data, s, e) or scale
                elif sub == 0x4489 and e - s in (4, 8):
                    declared = struct.unpack_from(">f" if e - s == 4 else ">d", data, s)[0]
        elif ident == 0x1654AE6B:  # Tracks
            for sub, s, e in _children(data, child, child_end, budget):
                if sub == 0xAE:
                    movie.tracks.append(_track_entry(data, s, e, budget))
        elif ident == _CLUSTER:
            scan.cluster(data, child, child_end, budget)
        pos = child_end
    video_numbers = {t.track_id for t in movie.tracks if t.kind == "video"}
    seconds = declared * scale / 1e9 if math.isfinite(declared) and declared > 0 else 0.0
    scanned, blocks = scan.result(scale, video_numbers)
    movie.seconds = max(seconds, scanned)
    for track in movie.tracks:
        if track.kind == "video" and track.default_duration_ns == 0:
            track.samples = blocks
    return movie


def _track_entry(data: bytes, start: int, end: int, budget: _Budget) -> _Track:
    track = _Track()
    for ident, s, e in _children(data, start, end, budget):
        if ident == 0xD7:
            track.track_id = _uint(data, s, e)
        elif ident == 0x83:
            track.kind = {1: "video", 2: "audio"}.get(_uint(data, s, e), "other")
        elif ident == 0x86:
            codec_id = bytes(data[s:e]).rstrip(b"\x00").decode("ascii", "replace")
            track.codec = _WEBM_CODECS.get(codec_id, codec_id)
        elif ident == 0x23E383:
            track.default_duration_ns = _uint(data, s, e)
        elif ident == 0xE0:
            for sub, ss, se in _children(data, s, e, budget):
                if sub == 0xB0:
                    track.width = _uint(data, ss, se)
                elif sub == 0xBA:
                    track.height = _uint(data, ss, se)
    return track


_WEBM_CODECS = {"V_VP8": "vp8", "V_VP9": "vp9", "V_AV1": "av1", "A_OPUS": "opus"}
_WEBM_CODECS["A_VORBIS"] = "vorbis"


class _ClusterScan:
    """Timestamps and video block counts from clusters, for files that declare no duration."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last = 0
        self.blocks: dict[int, int] = {}

    def cluster(self, data: bytes, start: int, end: int, budget: _Budget) -> int:
        """Walk one cluster's children; return where it ends (unknown sizes end at level 1)."""
        timecode = 0
        pos = start
        while pos < end:
            budget.spend()
            ident, body, size = _element(data, pos)
            if ident in _LEVEL1:
                return pos
            if size == _UNKNOWN or body + size > end:
                raise MediaRejected("truncated", "the file ends inside a cluster")
            if ident == 0xE7:
                timecode = _uint(data, body, body + size)
            elif ident == 0xA3:
                self._block(data, body, timecode)
            elif ident == 0xA0:
                for sub, s, _ in _children(data, body, body + size, budget):
                    if sub == 0xA1:
                        self._block(data, s, timecode)
            pos = body + size
        return pos

    def _block(self, data: bytes, pos: int, timecode: int) -> None:
        track, length = _vint(data, pos, keep_marker=False)
        relative = struct.unpack_from(">h", data, pos + length)[0]
        stamp = timecode + relative
        self.first = stamp if self.first is None else min(self.first, stamp)
        self.last = max(self.last, stamp)
        self.blocks[track] = self.blocks.get(track, 0) + 1

    def result(self, scale: int, video_numbers: set[int]) -> tuple[float, int]:
        """(seconds spanned by the blocks, number of video blocks)."""
        video = sum(n for track, n in self.blocks.items() if track in video_numbers)
        if self.first is None:
            return 0.0, video
        span = (self.last - self.first) * scale / 1e9
        if video > 1:
            span *= video / (video - 1)  # the last frame lasts one frame interval too
        return span, video
