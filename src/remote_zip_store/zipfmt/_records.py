"""The zip records' signatures, fixed sizes, layouts, flags and method codes (APPNOTE).

Written once, for the parser, the decoder and the writer.
"""

from __future__ import annotations

import struct

EOCD_SIGNATURE = b"PK\x05\x06"
EOCD_SIZE = 22
MAX_COMMENT = 0xFFFF
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_LOCATOR_SIZE = 20
ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
ZIP64_EOCD_SIZE = 56
CENTRAL_SIGNATURE = b"PK\x01\x02"
CENTRAL_SIZE = 46
LOCAL_SIGNATURE = b"PK\x03\x04"
LOCAL_SIZE = 30
ZIP64_EXTRA_ID = 0x0001

#: Bytes at the end of an archive that always hold the EOCD (and ZIP64 records).
MAX_END_RECORDS = EOCD_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE + ZIP64_EOCD_SIZE

FLAG_ENCRYPTED = 0x0001
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800

EOCD = struct.Struct("<4s4H2LH")
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
CENTRAL = struct.Struct("<4s6H3L5H2L")
LOCAL = struct.Struct("<4s5H3L2H")
EXTRA_HEADER = struct.Struct("<2H")

#: Compression methods (APPNOTE 4.4.5).
STORED = 0
DEFLATED = 8
DEFLATE64 = 9
BZIP2 = 12
LZMA = 14
ZSTD = 93
AES = 99
