"""What an uploaded floor plan is, from its first bytes: PNG, JPEG or WebP,
and its size as a browser displays it.

The station never decodes pixels (no image library on a Pi for this): it
reads the headers, which is all it needs to refuse what must not be kept and
to give the page the plan's shape. What the bytes are decides, never the
``Content-Type`` the client sent, so an SVG (markup that can carry scripts)
called ``image/png`` is still refused.

* PNG: the signature and the ``IHDR`` chunk's width and height.
* JPEG: the first frame header (SOF0..SOF15 but DHT/JPG/DAC) and the EXIF
  ``Orientation`` of APP1: browsers show a JPEG turned as it says
  (CSS ``image-orientation: from-image`` is the default), so for 5..8 the
  width and height are swapped, and a spot's fractions are of the picture
  as people see it.
* WebP: ``VP8 `` (lossy), ``VP8L`` (lossless) or ``VP8X`` (extended) headers.
  Browsers do not turn a WebP by its EXIF, so neither does this.

A decompression bomb (a small file of a huge picture) is refused from its
header, before any browser is asked to draw it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: The biggest plan kept: a phone's photo is 2-8 MB; a scanned A0 PNG may be more.
MAX_PLAN_BYTES = 20_000_000
#: The most pixels a plan may have: each costs a browser 4 bytes to draw (50 Mpx: 200 MB).
MAX_PLAN_PIXELS = 50_000_000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NOT_IMAGE = "this is not a PNG, JPEG or WebP image"


class ImageRefused(ValueError):
    """The bytes are not a plan the station keeps; ``str()`` says why, for people."""


@dataclass(frozen=True)
class ImageInfo:
    mime: str  # image/png, image/jpeg or image/webp: what the bytes are
    width: int  # as displayed (EXIF orientation applied)
    height: int
    orientation: int = 1  # the EXIF orientation (1: as stored)


def sniff(data: bytes) -> ImageInfo:
    """The image's type and displayed size, or :class:`ImageRefused` saying why not."""
    if data.startswith(PNG_SIGNATURE):
        info = _png(data)
    elif data.startswith(b"\xff\xd8\xff"):
        info = _jpeg(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        info = _webp(data)
    elif data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"):
        # An iPhone's camera saves HEIC by default: say what to do rather than "not an image".
        kind = "an AVIF" if data[8:11] == b"avi" else "a HEIC"
        raise ImageRefused(
            f"{_NOT_IMAGE}: it is {kind} photo, which not every browser shows; "
            "save it as JPEG and upload that (on an iPhone: Settings › Camera › Formats › Most Compatible)"
        )
    elif _is_markup(data):
        raise ImageRefused("SVG and other markup are refused (they can carry scripts): upload the plan as PNG, JPEG or WebP")
    else:
        raise ImageRefused(f"{_NOT_IMAGE} (a plan is a PNG, JPEG or WebP file)")
    if info.width < 1 or info.height < 1:
        raise ImageRefused(f"the {_kind(info.mime)} says it is {info.width}x{info.height} pixels: not a picture")
    if info.width * info.height > MAX_PLAN_PIXELS:
        raise ImageRefused(
            f"the {_kind(info.mime)} is {info.width}x{info.height} pixels ({info.width * info.height / 1e6:.0f} megapixels): "
            f"at most {MAX_PLAN_PIXELS // 1_000_000} megapixels, which a phone can still draw (scale it down)"
        )
    return info


def _kind(mime: str) -> str:
    return {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP"}.get(mime, mime)


def _is_markup(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip(b"\xff\xfe").lstrip(b"\xfe\xff").lstrip()
    head = head.replace(b"\x00", b"")  # UTF-16 markup
    return head.startswith(b"<") or b"<svg" in data[:4096].lower()


def _png(data: bytes) -> ImageInfo:
    # The first chunk is IHDR: length 13, then width and height (big-endian).
    if len(data) < 33:
        raise ImageRefused("the PNG is cut short: its header is incomplete")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ImageRefused("the PNG's first chunk is not a header (IHDR): the file is damaged")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("image/png", width, height)


#: Frame headers: SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Markers with no length after them.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg(data: bytes) -> ImageInfo:
    orientation = 1
    at = 2
    end = len(data)
    while True:
        # Markers may be padded with any number of 0xFF bytes.
        while at < end and data[at] != 0xFF:
            at += 1  # stray bytes between segments: skipped, as decoders do
        while at < end and data[at] == 0xFF:
            at += 1
        if at >= end:
            raise ImageRefused("the JPEG is cut short before its frame header (no width and height)")
        marker = data[at]
        at += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header came first
            raise ImageRefused("the JPEG has no frame header before its picture data: the file is damaged")
        if at + 2 > end:
            raise ImageRefused("the JPEG is cut short inside a segment header")
        (length,) = struct.unpack(">H", data[at : at + 2])
        if length < 2 or at + length > end:
            raise ImageRefused("the JPEG is cut short (a segment runs past the end of the file)")
        segment = data[at + 2 : at + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = _exif_orientation(segment[6:])
        elif marker in _SOF:
            if len(segment) < 5:
                raise ImageRefused("the JPEG's frame header is cut short")
            height, width = struct.unpack(">HH", segment[1:5])
            if height == 0:
                # A height of 0 means "given later by a DNL marker": no browser-safe size to read.
                raise ImageRefused("the JPEG does not say its height in its frame header (DNL): save it again as an ordinary JPEG")
            if orientation >= 5:  # turned a quarter: displayed on its side
                width, height = height, width
            return ImageInfo("image/jpeg", width, height, orientation)
        at += length


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0, or 1 when there is none or it is unreadable:
    a damaged EXIF must not lose a plan whose picture is fine."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            return 1
        tag, kind, _n = struct.unpack(order + "HHI", tiff[entry : entry + 8])
        if tag == 0x0112:
            if kind != 3:  # SHORT
                return 1
            (value,) = struct.unpack(order + "H", tiff[entry + 8 : entry + 10])
            return value if 1 <= value <= 8 else 1
    return 1


def _webp(data: bytes) -> ImageInfo:
    if len(data) < 30:
        raise ImageRefused("the WebP is cut short: its header is incomplete")
    chunk = data[12:16]
    body = data[20:]
    if chunk == b"VP8 ":
        # A key frame: 3 bytes of frame tag, the start code, then 14-bit width and height.
        if body[3:6] != b"\x9d\x01\x2a":
            raise ImageRefused("the WebP's lossy header is damaged (no start code)")
        width, height = struct.unpack("<HH", body[6:10])
        return ImageInfo("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        if body[0] != 0x2F:
            raise ImageRefused("the WebP's lossless header is damaged (no signature)")
        (bits,) = struct.unpack("<I", body[1:5])
        return ImageInfo("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return ImageInfo("image/webp", width, height)
    raise ImageRefused("the WebP holds no picture header this station reads (VP8, VP8L or VP8X)")
