"""Video renditions: storyboards and playback hide what they must and play everywhere.

Clips are made by the tests with PyAV (see video_clips.py); renditions are checked by
measured properties: tile counts, chroma, a face detector, stream layout, never bytes.
"""

from __future__ import annotations

import hashlib
import io

import av
import cv2
import numpy as np
import pytest

from blur import (
    MediaRejected,
    VideoRenditionCache,
    playback,
    probe_video,
    render_video_cached,
    storyboard,
    video_cache_key,
)
from blur.video_storyboard import GAP, grid_layout, timestamp

from .video_clips import Clip, decoded_frames, make_clip, top_level_boxes


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_clip(Clip())


@pytest.fixture(scope="module")
def face_clip(astronaut: np.ndarray) -> bytes:
    return make_clip(Clip(width=640, height=360, face=astronaut))


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _tiles(sheet: np.ndarray, info_size: tuple[int, int], count: int) -> list[np.ndarray]:
    cols, _, (width, height) = grid_layout(*info_size, count, 1280)
    out = []
    for index in range(count):
        x = GAP + (index % cols) * (width + GAP)
        y = GAP + (index // cols) * (height + GAP)
        out.append(sheet[y : y + height, x : x + width])
    return out


def test_probe_reads_container_codecs_size_duration_and_rate(clip: bytes) -> None:
    info = probe_video(clip)
    assert (info.container, info.mime, info.width, info.height) == ("mp4", "video/mp4", 480, 270)
    assert (info.video_codec, info.audio_codec, info.has_audio) == ("h264", "aac", True)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.05)
    assert info.fps == pytest.approx(30)


def test_probe_reads_webm_and_portrait_phone_clips() -> None:
    webm = probe_video(make_clip(Clip(container="webm", codec="libvpx", audio="libopus")))
    assert (webm.container, webm.video_codec, webm.audio_codec) == ("webm", "vp8", "opus")
    assert webm.duration_seconds == pytest.approx(2.0, abs=0.1)
    live = Clip(container="webm", codec="libvpx", audio="libopus", live=True)
    recorded = probe_video(make_clip(live))  # sizes unknown, no duration: clusters tell
    assert recorded.duration_seconds == pytest.approx(2.0, abs=0.1) and recorded.fps == 30
    portrait = probe_video(make_clip(Clip(rotation=90, audio=None)))
    assert (portrait.width, portrait.height, portrait.has_audio) == (270, 480, False)


@pytest.mark.parametrize("frames", [9, 4])
def test_storyboard_has_the_promised_tiles_in_grey_with_times(
    clip: bytes, inspect, frames: int
) -> None:
    board = storyboard(clip, frames=frames)
    image = inspect.opened(board.data)
    assert board.mime == "image/jpeg" and board.source_frames == frames
    assert image.mode == "L" and inspect.max_chroma(image) == 0
    assert max(image.size) <= 1280 and image.size == (board.width, board.height)
    tiles = _tiles(np.asarray(image), (480, 270), frames)
    for tile in tiles:  # a dark label box with light digits in the bottom-left corner
        corner = tile[-tile.shape[0] // 8 :, : tile.shape[1] // 4]
        assert corner.min() < 40 and corner.max() > 200
    assert timestamp(3.25) == "0:03.2" and timestamp(3725) == "1:02:05"


def test_storyboard_spreads_over_long_gops_by_seeking(inspect) -> None:
    one_keyframe = make_clip(Clip(seconds=4, keyint=1000, audio=None))
    board = storyboard(one_keyframe, frames=6, level=4)
    assert board.source_frames == 6
    tiles = _tiles(inspect.grey(board.data), (480, 270), 6)
    middles = [float(tile[: tile.shape[0] // 2].mean()) for tile in tiles]
    assert len({round(m) for m in middles}) >= 4  # different moments, not one frame repeated


def test_face_is_found_in_the_clip_but_not_in_level_1_renditions(face_clip: bytes, inspect) -> None:
    originals = decoded_frames(face_clip, every=15)
    assert all(inspect.faces(_grey(frame)) >= 1 for frame in originals)
    board = inspect.grey(storyboard(face_clip, level=1).data)
    assert inspect.faces(board) == 0
    assert all(inspect.faces(tile) == 0 for tile in _tiles(board, (640, 360), 9))
    safe = decoded_frames(playback(face_clip, level=1).data, every=15)
    assert len(safe) == len(originals)
    assert all(inspect.faces(_grey(frame)) == 0 for frame in safe)
    sharp = decoded_frames(playback(face_clip, level=3).data, every=15)  # the test can fail
    assert all(inspect.faces(_grey(frame)) >= 1 for frame in sharp)


def _streams(data: bytes) -> tuple[list[str], av.video.stream.VideoStream, list[str]]:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        return (
            [s.type for s in container.streams],
            video,
            [s.codec_context.name for s in container.streams.audio],
        )


def test_playback_is_muted_h264_yuv420p_with_the_index_first(clip: bytes) -> None:
    rendition = playback(clip)
    assert rendition.mime == "video/mp4" and not rendition.has_audio
    assert (rendition.width, rendition.height) == (480, 270)  # never upscaled
    assert rendition.duration_seconds == pytest.approx(2.0, abs=0.1)
    kinds, video, _ = _streams(rendition.data)
    assert kinds == ["video"]
    assert (video.codec_context.name, video.codec_context.pix_fmt) == ("h264", "yuv420p")
    boxes = top_level_boxes(rendition.data)
    assert boxes[0] == b"ftyp" and boxes.index(b"moov") < boxes.index(b"mdat")


def test_playback_carries_aac_audio_only_when_asked(clip: bytes) -> None:
    rendition = playback(clip, audio=True)
    kinds, _, codecs = _streams(rendition.data)
    assert rendition.has_audio and sorted(kinds) == ["audio", "video"] and codecs == ["aac"]
    silent = make_clip(Clip(audio=None))
    assert not playback(silent, audio=True).has_audio


def test_playback_levels_1_to_3_are_grey_and_level_4_is_colour(clip: bytes) -> None:
    def chroma_spread(level: int) -> int:
        with av.open(io.BytesIO(playback(clip, level=level, max_height=180).data)) as container:
            frame = next(container.decode(video=0))
            planes = frame.to_ndarray().astype(int)  # yuv420p: Y rows then U and V
            chroma = planes[frame.height :]
            return int(np.abs(chroma - 128).max())

    assert chroma_spread(1) <= 1 and chroma_spread(2) <= 1 and chroma_spread(3) <= 1
    assert chroma_spread(4) > 20
    colour = playback(clip, level=4)
    assert len(decoded_frames(colour.data)) == 60 and colour.duration_seconds == 2.0


def test_playback_reduces_resolution_and_thins_fast_sources() -> None:
    fast = make_clip(Clip(width=640, height=360, fps=60, audio=None))
    rendition = playback(fast, max_height=180)
    assert (rendition.width, rendition.height) == (320, 180)
    with av.open(io.BytesIO(rendition.data)) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(30, abs=0.5)


def test_portrait_clips_are_turned_upright(inspect) -> None:
    rotated = make_clip(Clip(rotation=90, audio=None))
    with av.open(io.BytesIO(rotated)) as container:
        frame = next(container.decode(video=0))
        upright = np.rot90(frame.to_ndarray(format="rgb24"), k=frame.rotation // 90)
    rendition = playback(rotated, level=4, max_height=480)
    assert (rendition.width, rendition.height) == (270, 480)
    ours = decoded_frames(rendition.data)[0]
    assert np.abs(ours.astype(int) - upright.astype(int)).mean() < 12


def test_renditions_are_deterministic(clip: bytes) -> None:
    assert playback(clip).data == playback(clip).data
    assert storyboard(clip).data == storyboard(clip).data


def test_cache_keys_name_content_kind_and_spec() -> None:
    sha = "a" * 64
    keys = {
        video_cache_key(sha, "storyboard"),
        video_cache_key(sha, "storyboard", frames=4),
        video_cache_key(sha, "playback"),
        video_cache_key(sha, "playback", audio=True),
        video_cache_key("b" * 64, "playback"),
    }
    assert len(keys) == 5
    assert video_cache_key(sha, "playback") == video_cache_key(sha, "playback", level=1)
    with pytest.raises(ValueError):
        video_cache_key(sha, "playback", level=0)
    with pytest.raises(ValueError):
        video_cache_key(sha, "transcode")


def test_cache_stores_storyboards_and_mp4s_and_serves_hits(clip: bytes, tmp_path) -> None:
    cache = VideoRenditionCache(tmp_path)
    sha = hashlib.sha256(clip).hexdigest()
    board = render_video_cached(cache, "storyboard", clip, sha, frames=4)
    movie = render_video_cached(cache, "playback", clip, sha)
    assert render_video_cached(cache, "storyboard", clip, sha, frames=4) == board
    assert render_video_cached(cache, "playback", clip, sha) == movie
    path = cache.video_path_for(video_cache_key(sha, "playback"))
    assert path is not None and path.suffix == ".mp4" and path.read_bytes() == movie.data
    path.write_bytes(movie.data[:-10])  # a damaged entry is a miss, never served
    assert cache.get_video(video_cache_key(sha, "playback")) is None
    with pytest.raises(ValueError):
        render_video_cached(cache, "playback", clip, "c" * 64, audio=True)


def test_plain_functions_refuse_what_probe_refuses() -> None:
    with pytest.raises(MediaRejected) as caught:
        storyboard(b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n")
    assert caught.value.code == "playlist"
