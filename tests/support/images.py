"""Pictures for the floor plan tests, made here byte by byte: a real PNG
(any browser draws it), and the headers of JPEGs and WebPs with the sizes and
EXIF orientations a test needs (the station reads only headers)."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rgb: tuple[int, int, int] = (240, 240, 240)) -> bytes:
    """A real PNG of one colour (8-bit RGB), compressed: small even when large."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")


def png_header(width: int, height: int) -> bytes:
    """Only a PNG's signature and header chunk: what a decompression bomb shows first."""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def _exif(orientation: int, order: str = "MM") -> bytes:
    fmt = ">" if order == "MM" else "<"
    ifd = struct.pack(fmt + "H", 1) + struct.pack(fmt + "HHI", 0x0112, 3, 1) + struct.pack(fmt + "HH", orientation, 0) + struct.pack(fmt + "I", 0)
    tiff = order.encode() + struct.pack(fmt + "HI", 42, 8) + ifd
    return b"Exif\x00\x00" + tiff


def jpeg(width: int, height: int, orientation: int | None = None, order: str = "MM") -> bytes:
    """A JPEG's headers up to its frame header (SOF0), with an EXIF orientation when given."""
    out = b"\xff\xd8"
    out += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    if orientation is not None:
        app1 = _exif(orientation, order)
        out += b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    out += b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
    return out + b"\xff\xda" + struct.pack(">H", 2) + b"\x00" * 32 + b"\xff\xd9"


def webp_lossy(width: int, height: int) -> bytes:
    vp8 = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 10
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8)) + b"WEBP" + b"VP8 " + struct.pack("<I", len(vp8)) + vp8


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    vp8l = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 10
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8l)) + b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l


def webp_extended(width: int, height: int) -> bytes:
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8x) + 8) + b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x + b"\x00" * 8


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
