"""What the video engine reports and produces: header facts and playable renditions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoInfo:
    """What the container headers say. ``width``/``height`` are as displayed (rotation applied)."""

    container: str  # 'mp4' | 'mov' | 'webm'
    mime: str  # 'video/mp4' | 'video/quicktime' | 'video/webm'
    width: int
    height: int
    duration_seconds: float
    fps: float  # average over the clip
    video_codec: str  # 'h264' | 'hevc' | 'vp8' | 'vp9' | 'av1' | 'mpeg4'
    audio_codec: str | None  # 'aac' | 'opus' | 'vorbis' | 'mp3' | None
    has_audio: bool
    rotation: int = 0  # clockwise degrees the stored frames are turned for display


@dataclass(frozen=True)
class VideoRendition:
    data: bytes  # a freshly encoded H.264 MP4, never the input bytes
    mime: str  # 'video/mp4'
    width: int
    height: int
    duration_seconds: float
    has_audio: bool
