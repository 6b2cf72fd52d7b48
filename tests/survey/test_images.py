"""What an uploaded plan is, from its bytes alone: its type and its size as
browsers show it (a JPEG turned by its EXIF orientation), and every picture
the station refuses, each with its reason."""

from __future__ import annotations

import pytest

from tests.support import images
from webperf3.survey.images import MAX_PLAN_PIXELS, ImageRefused, sniff


def test_a_png_s_size_comes_from_its_header() -> None:
    info = sniff(images.png(40, 30))
    assert (info.mime, info.width, info.height) == ("image/png", 40, 30)


@pytest.mark.parametrize("orientation, shown", [(None, (4000, 3000)), (1, (4000, 3000)), (3, (4000, 3000)), (6, (3000, 4000)), (8, (3000, 4000)), (5, (3000, 4000))])
@pytest.mark.parametrize("order", ["MM", "II"])
def test_a_phone_s_photo_is_as_wide_as_it_is_shown_turned_by_its_exif(orientation, shown, order) -> None:
    # A phone held upright saves a landscape picture and orientation 6: browsers show it portrait.
    info = sniff(images.jpeg(4000, 3000, orientation, order))
    assert info.mime == "image/jpeg" and (info.width, info.height) == shown


@pytest.mark.parametrize("make", [images.webp_lossy, images.webp_lossless, images.webp_extended])
def test_webp_of_each_kind(make) -> None:
    info = sniff(make(1200, 900))
    assert (info.mime, info.width, info.height) == ("image/webp", 1200, 900)


@pytest.mark.parametrize(
    "data, says",
    [
        (images.SVG, "SVG and other markup are refused (they can carry scripts)"),
        (b"\xef\xbb\xbf  <svg onload=alert(1)>", "SVG and other markup are refused"),
        (b"<html><script>alert(1)</script>", "SVG and other markup are refused"),
        (b"GIF89a\x01\x00\x01\x00", "this is not a PNG, JPEG or WebP image"),
        (b"", "this is not a PNG, JPEG or WebP image"),
        (b"%PDF-1.7\n", "this is not a PNG, JPEG or WebP image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "it is a HEIC photo, which not every browser shows; save it as JPEG"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "it is an AVIF photo"),
        (images.png(10, 10)[:20], "the PNG is cut short"),
        (images.jpeg(100, 100)[:30], "the JPEG is cut short"),
        (images.webp_lossy(10, 10)[:20], "the WebP is cut short"),
        (images.png_header(0, 10), "says it is 0x10 pixels"),
        (images.png_header(100_000, 100_000), "100000x100000 pixels (10000 megapixels): at most 50 megapixels"),
        (images.jpeg(10_000, 6_000), "10000x6000 pixels (60 megapixels): at most 50 megapixels"),
        (images.webp_extended(16_000, 16_000), "at most 50 megapixels"),
    ],
)
def test_what_is_refused_and_why(data: bytes, says: str) -> None:
    with pytest.raises(ImageRefused) as refused:
        sniff(data)
    assert says in str(refused.value)


def test_just_under_the_pixel_cap_is_kept() -> None:
    assert sniff(images.png_header(10_000, MAX_PLAN_PIXELS // 10_000)).height == 5_000


def test_a_damaged_exif_loses_no_plan() -> None:
    data = images.jpeg(400, 300, 6).replace(b"MM\x00\x2a", b"XX\x00\x2a")
    assert (sniff(data).width, sniff(data).height) == (400, 300)
