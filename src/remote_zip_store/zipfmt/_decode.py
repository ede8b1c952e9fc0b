"""Per-entry decode: decompress one entry's bytes and check them.

Output is bounded by the central directory's uncompressed size (a deflate bomb
cannot inflate past it), the size must match exactly, and the CRC-32 is checked
unless the caller turns it off. Anything wrong raises; corrupt bytes are never
returned as data. Errors say what is wrong with the entry; the archive layer adds
which archive and key (:func:`remote_zip_store.errors.context`).
"""

from __future__ import annotations

import bz2
import functools
import lzma
import struct
import sys
import zlib
from collections.abc import Callable

from ..errors import CorruptEntryError, UnsupportedArchiveError
from ._parse import FLAG_ENCRYPTED, Entry
from ._records import AES as AES
from ._records import BZIP2 as BZIP2
from ._records import DEFLATE64 as DEFLATE64
from ._records import DEFLATED as DEFLATED
from ._records import LZMA as LZMA
from ._records import STORED as STORED
from ._records import ZSTD as ZSTD

METHOD_NAMES = {
    STORED: "stored",
    1: "shrunk",
    6: "imploded",
    DEFLATED: "deflate",
    DEFLATE64: "deflate64",
    BZIP2: "bzip2",
    LZMA: "lzma",
    ZSTD: "zstd",
    95: "xz",
    96: "jpeg",
    97: "wavpack",
    98: "ppmd",
    AES: "aes-encrypted",
}


def method_name(method: int) -> str:
    return METHOD_NAMES.get(method, f"method {method}")


def _zstd_decompressor() -> Callable[[bytes, int], tuple[bytes, bool]] | None:
    if "zstandard" in sys.modules and sys.modules["zstandard"] is None:
        return None  # import blocked on purpose (sys.modules entry set to None)
    return _zstd_probe()


@functools.cache
def _zstd_probe() -> Callable[[bytes, int], tuple[bytes, bool]] | None:
    # Cached: a failed import searches sys.path every time (~0.2 ms, paid per entry read).
    try:
        import zstandard
    except ImportError:
        return None

    def run(data: bytes, limit: int) -> tuple[bytes, bool]:
        # A stream reader stops at ``limit``: a zstd bomb is never inflated past it.
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
            parts: list[bytes] = []
            remaining = limit
            while remaining > 0:
                part = reader.read(remaining)
                if not part:
                    break
                parts.append(part)
                remaining -= len(part)
        except zstandard.ZstdError as exc:
            raise ValueError(str(exc)) from exc
        return b"".join(parts), True  # a truncated frame yields fewer bytes than declared

    return run


def supported_methods() -> frozenset[int]:
    """The methods this installation can decode (zstd only with ``zstandard``)."""
    methods = {STORED, DEFLATED, BZIP2, LZMA}
    if _zstd_decompressor() is not None:
        methods.add(ZSTD)
    return frozenset(methods)


def check_supported(entry: Entry) -> None:
    """Raise a clear error for entries this library cannot decode."""
    if entry.flags & FLAG_ENCRYPTED or entry.method == AES:
        raise UnsupportedArchiveError(
            f"encrypted ({method_name(entry.method)}); encrypted zip entries are not supported"
        )
    if entry.method not in supported_methods():
        hint = " (pip install zstandard)" if entry.method == ZSTD else ""
        raise UnsupportedArchiveError(
            f"uses compression {method_name(entry.method)}, "
            f"which is not supported{hint}; supported: "
            + ", ".join(method_name(m) for m in sorted(supported_methods())),
        )


def decompress(data: bytes | memoryview, entry: Entry, *, verify_crc: bool) -> bytes:
    """Decode ``data`` (exactly the entry's compressed bytes) to its contents."""
    check_supported(entry)
    size = entry.uncompressed_size
    limit = size + 1  # one byte past the declared size proves a lie; never 0 (= unlimited)
    method = entry.method
    finished = True
    try:
        if method == STORED:
            out = bytes(data)
        elif method == DEFLATED:
            inflater = zlib.decompressobj(-15)
            out = inflater.decompress(data, limit)
            finished = inflater.eof
        elif method == BZIP2:
            bunzip = bz2.BZ2Decompressor()
            out = bunzip.decompress(bytes(data), max_length=limit)
            finished = bunzip.eof
        elif method == LZMA:
            out, finished = _lzma(bytes(data), limit)
        else:  # ZSTD, checked above
            zstd = _zstd_decompressor()
            assert zstd is not None
            out, finished = zstd(bytes(data), limit)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
        if isinstance(exc, CorruptEntryError):
            raise
        raise CorruptEntryError(
            f"corrupt: {method_name(method)} data failed to decode ({exc})"
        ) from exc
    if len(out) != size:
        got = f"more than {size} bytes" if len(out) > size else f"{len(out)} bytes"
        raise CorruptEntryError(f"corrupt: it decodes to {got}, the directory says {size}")
    if not finished and method in (DEFLATED, BZIP2):
        raise CorruptEntryError(f"corrupt: {method_name(method)} stream is truncated")
    if verify_crc and zlib.crc32(out) != entry.crc32:
        raise CorruptEntryError(
            f"corrupt: CRC-32 {zlib.crc32(out):08x} does not "
            f"match the directory's {entry.crc32:08x}"
        )
    return out


_LZMA_HEADER = struct.Struct("<BBH")


def _lzma(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Zip's LZMA: 2-byte version, 2-byte properties size, properties, raw LZMA1."""
    if len(data) < 4:
        raise CorruptEntryError("corrupt: lzma header is truncated")
    _, _, props_size = _LZMA_HEADER.unpack_from(data, 0)
    props = data[4 : 4 + props_size]
    if props_size != 5 or len(props) != 5:
        raise CorruptEntryError("corrupt: lzma properties are invalid")
    lclppb = props[0]
    if lclppb >= 9 * 5 * 5:
        raise CorruptEntryError("corrupt: lzma properties are invalid")
    pb, rest = divmod(lclppb, 45)
    lp, lc = divmod(rest, 9)
    dict_size = struct.unpack_from("<L", props, 1)[0]
    lzma_filter = {
        "id": lzma.FILTER_LZMA1,
        "dict_size": max(dict_size, 4096),
        "lc": lc,
        "lp": lp,
        "pb": pb,
    }
    decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma_filter])
    out = decoder.decompress(data[4 + props_size :], max_length=limit)
    # Without an end marker (flag bit 1 clear) the stream ends at the declared size.
    return out, True
