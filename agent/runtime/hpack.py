"""HPACK, header compression for HTTP/2 (RFC 7541).

The encoder writes every field as a literal without indexing and without Huffman coding: legal,
and it leaves the peer's table alone. The decoder is complete, because Go's encoder
(golang.org/x/net/http2/hpack, which containerd's gRPC server uses) indexes fields, Huffman-codes
strings when that is shorter and may resize its table.
"""


class HpackError(ValueError):
    """A header block that breaks RFC 7541 (a COMPRESSION_ERROR in HTTP/2 terms)."""


# RFC 7541 Appendix A.
STATIC_TABLE = (
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
)

# RFC 7541 Appendix B: the code length in bits of symbols 0..255 and EOS (256), one byte each in
# hex, 32 symbols a line. The code is canonical (codes of one length are consecutive, in symbol
# order, after the shorter ones), so the lengths alone define every code.
_HUFFMAN_LENGTHS = bytes.fromhex(
    "0d171c1c1c1c1c1c1c181e1c1c1e1c1c1c1c1c1c1c1c1e1c1c1c1c1c1c1c1c1c"
    "060a0a0c0d06080b0a0a080b080606060505050606060606060607080f060c0a"
    "0d06070707070707070707070707070707070707070707070807080d130d0e06"
    "0f05060506050606060507070606060506070605050607070707070f0b0e0d1c"
    "1416141416161617161717171717181718181617181717171715161716171718"
    "1615141616171715171616181516171715151615171617171416161617161617"
    "1a1a1413161716191a1a1a1b1b1a181913151a1b1b1a1b1815151a1a1c1b1b1b"
    "14181415161515171616191918181a171a1b1a1a1b1b1b1b1b1c1b1b1b1b1b1a"
    "1e"
)
EOS = 256
_huffman_decode_table = None


def huffman_codes():
    """Return the list of (code, length) for symbols 0..256, built from the canonical lengths."""
    order = sorted(range(257), key=lambda s: (_HUFFMAN_LENGTHS[s], s))
    codes = [(0, 0)] * 257
    code = 0
    prev_len = _HUFFMAN_LENGTHS[order[0]]
    for i, symbol in enumerate(order):
        length = _HUFFMAN_LENGTHS[symbol]
        if i:
            code = (code + 1) << (length - prev_len)
        prev_len = length
        codes[symbol] = (code, length)
    return codes


def _decode_table():
    """[{code: symbol} for each code length 0..30] (the shortest code has 5 bits)."""
    global _huffman_decode_table
    if _huffman_decode_table is None:
        tables = [{} for _ in range(31)]
        for sym, (code, length) in enumerate(huffman_codes()):
            tables[length][code] = sym
        _huffman_decode_table = tables
    return _huffman_decode_table


def huffman_decode(data):
    """Decode a Huffman-coded string (RFC 7541 section 5.2)."""
    table = _decode_table()
    out = bytearray()
    code = 0
    length = 0
    for byte in bytearray(data):
        for shift in range(7, -1, -1):
            code = (code << 1) | ((byte >> shift) & 1)
            length += 1
            if length < 5:
                continue
            if length > 30:
                raise HpackError("invalid Huffman code")
            symbol = table[length].get(code)
            if symbol is None:
                continue
            if symbol == EOS:
                raise HpackError("EOS inside a Huffman-coded string")
            out.append(symbol)
            code = 0
            length = 0
    # What is left must be padding: fewer than 8 bits, all ones (the most significant bits of EOS).
    if length > 7:
        raise HpackError("Huffman padding longer than 7 bits")
    if code != (1 << length) - 1:
        raise HpackError("Huffman padding that is not the prefix of EOS")
    return bytes(out)


def huffman_encode(data):
    """Huffman-code bytes (used by tests; the encoder below sends raw strings)."""
    codes = huffman_codes()
    acc = 0
    bits = 0
    for byte in bytearray(data):
        code, length = codes[byte]
        acc = (acc << length) | code
        bits += length
    pad = -bits % 8
    acc = (acc << pad) | ((1 << pad) - 1)
    return acc.to_bytes((bits + pad) // 8, "big")


def encode_integer(value, prefix_bits, first_byte_flags=0):
    """Integer representation of RFC 7541 section 5.1 with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = bytearray([first_byte_flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_integer(data, pos, prefix_bits):
    """Return (value, new position) of the N-bit-prefix integer starting at data[pos]."""
    if pos >= len(data):
        raise HpackError("truncated integer")
    limit = (1 << prefix_bits) - 1
    value = data[pos] & limit
    pos += 1
    if value < limit:
        return value, pos
    shift = 0
    while True:
        if pos >= len(data):
            raise HpackError("truncated integer")
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:  # more than 2**35: no sane header block carries such an integer
            raise HpackError("integer too large")


def _encode_string(raw):
    return encode_integer(len(raw), 7) + raw


def encode(headers):
    """Encode (name, value) pairs as literal header fields without indexing, new names."""
    out = bytearray()
    for name, value in headers:
        out.append(0x00)
        out += _encode_string(name.lower().encode("ascii"))
        out += _encode_string(value.encode("utf-8"))
    return bytes(out)


def _entry_size(name, value):
    # Strings are decoded with surrogateescape, so encoding them back gives their octets.
    return (
        len(name.encode("utf-8", "surrogateescape"))
        + len(value.encode("utf-8", "surrogateescape"))
        + 32
    )


class Decoder:
    """Decodes header blocks of one connection; keeps the dynamic table between blocks."""

    def __init__(self, max_table_size=4096):
        # max_table_size is the SETTINGS_HEADER_TABLE_SIZE we advertise (4096 by default): the
        # peer's table size updates may not exceed it.
        self.max_allowed = max_table_size
        self.max_size = max_table_size
        self.size = 0
        self.dynamic = []  # newest first

    def _entry(self, index):
        if index == 0:
            raise HpackError("index 0")
        if index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        dyn = index - len(STATIC_TABLE) - 1
        if dyn >= len(self.dynamic):
            raise HpackError("index %d beyond the dynamic table" % index)
        return self.dynamic[dyn]

    def _evict(self):
        while self.size > self.max_size:
            self.size -= _entry_size(*self.dynamic.pop())

    def _add(self, name, value):
        # Section 4.1: an entry's size is its name and value in octets plus 32. An entry larger
        # than the table empties it and is not added (section 4.4).
        self.dynamic.insert(0, (name, value))
        self.size += _entry_size(name, value)
        self._evict()

    def _string(self, data, pos):
        if pos >= len(data):
            raise HpackError("truncated string")
        huffman = data[pos] & 0x80
        length, pos = decode_integer(data, pos, 7)
        if pos + length > len(data):
            raise HpackError("truncated string")
        raw = bytes(data[pos : pos + length])
        if huffman:
            raw = huffman_decode(raw)
        return raw.decode("utf-8", "surrogateescape"), pos + length

    def decode(self, block):
        """Return the list of (name, value) of one complete header block."""
        data = bytearray(block)
        headers = []
        pos = 0
        seen_field = False
        while pos < len(data):
            byte = data[pos]
            if byte & 0x80:  # 6.1 indexed header field
                index, pos = decode_integer(data, pos, 7)
                headers.append(self._entry(index))
                seen_field = True
                continue
            if byte & 0xE0 == 0x20:  # 6.3 dynamic table size update
                if seen_field:
                    raise HpackError("table size update after a header field")
                size, pos = decode_integer(data, pos, 5)
                if size > self.max_allowed:
                    raise HpackError(
                        "table size %d above the allowed %d" % (size, self.max_allowed)
                    )
                self.max_size = size
                self._evict()
                continue
            if byte & 0xC0 == 0x40:  # 6.2.1 literal with incremental indexing
                prefix, add = 6, True
            else:  # 6.2.2 without indexing (0000), 6.2.3 never indexed (0001)
                prefix, add = 4, False
            index, pos = decode_integer(data, pos, prefix)
            if index:
                name = self._entry(index)[0]
            else:
                name, pos = self._string(data, pos)
            value, pos = self._string(data, pos)
            if add:
                self._add(name, value)
            headers.append((name, value))
            seen_field = True
        return headers
