"""HPACK decoding on the test vectors of RFC 7541 Appendix C, which are real encoder output:
requests and responses with and without Huffman coding, with the dynamic table carried from
one header block to the next."""

import pytest
from spctl_agent.runtime import hpack

# C.3 and C.4: three requests on one connection (C.3 literal strings, C.4 the same in Huffman).
REQUESTS = [
    [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
    [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
        ("cache-control", "no-cache"),
    ],
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ],
]
REQUEST_TABLES = [
    ([(":authority", "www.example.com")], 57),
    ([("cache-control", "no-cache"), (":authority", "www.example.com")], 110),
    (
        [
            ("custom-key", "custom-value"),
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ],
        164,
    ),
]
C3 = [
    "828684410f7777772e6578616d706c652e636f6d",
    "828684be58086e6f2d6361636865",
    "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
]
C4 = [
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
]

# C.5 and C.6: three responses with a 256-octet table, so entries are evicted.
DATE1 = ("date", "Mon, 21 Oct 2013 20:13:21 GMT")
LOCATION = ("location", "https://www.example.com")
RESPONSES = [
    [(":status", "302"), ("cache-control", "private"), DATE1, LOCATION],
    [(":status", "307"), ("cache-control", "private"), DATE1, LOCATION],
    [
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        LOCATION,
        ("content-encoding", "gzip"),
        ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
    ],
]
RESPONSE_TABLES = [
    ([LOCATION, DATE1, ("cache-control", "private"), (":status", "302")], 222),
    ([(":status", "307"), LOCATION, DATE1, ("cache-control", "private")], 222),
    (
        [
            ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
            ("content-encoding", "gzip"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ],
        215,
    ),
]
C5 = [
    "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54"
    "6e1768747470733a2f2f7777772e6578616d706c652e636f6d",
    "4803333037c1c0bf",
    "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d"
    "4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b207665"
    "7273696f6e3d31",
]
C6 = [
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b"
    "97c8e9ae82ae43d3",
    "4883640effc1c0bf",
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdf"
    "cd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
]


@pytest.mark.parametrize("blocks", [C3, C4], ids=["C.3 plain", "C.4 huffman"])
def test_requests_share_the_dynamic_table(blocks):
    decoder = hpack.Decoder()
    for block, headers, (table, size) in zip(blocks, REQUESTS, REQUEST_TABLES):
        assert decoder.decode(bytes.fromhex(block)) == headers
        assert decoder.dynamic == table
        assert decoder.size == size


@pytest.mark.parametrize("blocks", [C5, C6], ids=["C.5 plain", "C.6 huffman"])
def test_responses_evict_the_oldest_entries(blocks):
    decoder = hpack.Decoder()
    decoder.max_size = 256  # as if the peer had sent a table size update to 256
    for block, headers, (table, size) in zip(blocks, RESPONSES, RESPONSE_TABLES):
        assert decoder.decode(bytes.fromhex(block)) == headers
        assert decoder.dynamic == table
        assert decoder.size == size


@pytest.mark.parametrize(
    "block, header, table",
    [
        # C.2.1 literal with incremental indexing: enters the table (32 + 10 + 13 = 55).
        (
            "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
            ("custom-key", "custom-header"),
            [("custom-key", "custom-header")],
        ),
        # C.2.2 literal without indexing, indexed name.
        ("040c2f73616d706c652f70617468", (":path", "/sample/path"), []),
        # C.2.3 never indexed.
        ("100870617373776f726406736563726574", ("password", "secret"), []),
        # C.2.4 indexed from the static table.
        ("82", (":method", "GET"), []),
    ],
)
def test_single_fields_of_c2(block, header, table):
    decoder = hpack.Decoder()
    assert decoder.decode(bytes.fromhex(block)) == [header]
    assert decoder.dynamic == table


@pytest.mark.parametrize(
    "value, prefix, encoded",
    [
        (10, 5, "0a"),  # C.1.1
        (1337, 5, "1f9a0a"),  # C.1.2
        (42, 8, "2a"),  # C.1.3
        (30, 5, "1e"),  # largest value that fits the prefix
        (31, 5, "1f00"),  # the prefix full, then zero
        (127, 7, "7f00"),
        (128, 7, "7f01"),
        (2**21, 7, "7f81ff7f"),
    ],
)
def test_integers(value, prefix, encoded):
    assert hpack.encode_integer(value, prefix).hex() == encoded
    assert hpack.decode_integer(bytes.fromhex(encoded), 0, prefix) == (value, len(encoded) // 2)


def test_integer_prefix_ignores_flag_bits():
    # 0xe0 | 10: the three high bits belong to the representation, not to the integer.
    assert hpack.decode_integer(bytes([0xEA]), 0, 5) == (10, 1)


@pytest.mark.parametrize("encoded", ["1f", "1f80", "1fffffffffffff"])
def test_truncated_or_huge_integers_are_errors(encoded):
    with pytest.raises(hpack.HpackError):
        hpack.decode_integer(bytes.fromhex(encoded), 0, 5)


def test_huffman_round_trip_of_every_byte():
    data = bytes(range(256)) * 2
    assert hpack.huffman_decode(hpack.huffman_encode(data)) == data
    # Known codes of Appendix B: '0' is 00000 (5 bits), 'a' 00011, EOS thirty ones.
    codes = hpack.huffman_codes()
    assert codes[ord("0")] == (0, 5)
    assert codes[ord("a")] == (3, 5)
    assert codes[hpack.EOS] == ((1 << 30) - 1, 30)


@pytest.mark.parametrize(
    "encoded, why",
    [
        ("ffffffff", "EOS"),  # the EOS code itself, then two padding bits
        ("1f" + "ff", "longer than 7"),  # 'a' then a whole byte of padding
        ("18", "prefix of EOS"),  # 'a' (00011) padded with zeros instead of ones
    ],
)
def test_huffman_padding_and_eos_rules(encoded, why):
    with pytest.raises(hpack.HpackError, match=why):
        hpack.huffman_decode(bytes.fromhex(encoded))


def test_table_size_update_evicts_and_is_bounded():
    decoder = hpack.Decoder()
    decoder.decode(bytes.fromhex(C3[0]))
    assert decoder.dynamic
    decoder.decode(bytes([0x20]))  # size update to 0 empties the table
    assert decoder.dynamic == [] and decoder.size == 0
    decoder.decode(hpack.encode_integer(100, 5, 0x20) + bytes.fromhex("400161026262"))
    assert decoder.dynamic == [("a", "bb")] and decoder.max_size == 100
    with pytest.raises(hpack.HpackError, match="above the allowed"):
        decoder.decode(hpack.encode_integer(4097, 5, 0x20))
    with pytest.raises(hpack.HpackError, match="after a header field"):
        decoder.decode(bytes.fromhex("8220"))


def test_entry_larger_than_the_table_empties_it():
    decoder = hpack.Decoder()
    decoder.max_size = 40
    decoder.decode(bytes.fromhex("400161026262"))  # 32 + 1 + 2 = 35 fits
    assert decoder.dynamic == [("a", "bb")]
    decoder.decode(bytes.fromhex("4001610a") + b"x" * 10)  # 43 does not fit
    assert decoder.dynamic == [] and decoder.size == 0


def test_bad_indexes_are_errors():
    decoder = hpack.Decoder()
    with pytest.raises(hpack.HpackError, match="index 0"):
        decoder.decode(bytes([0x80]))
    with pytest.raises(hpack.HpackError, match="beyond the dynamic table"):
        decoder.decode(bytes([0x80 | 62]))


def test_encoder_output_decodes_to_the_same_headers_and_leaves_the_table_alone():
    headers = [
        (":method", "POST"),
        (":path", "/runtime.v1.RuntimeService/Version"),
        ("grpc-timeout", "10000m"),
        ("x-long", "v" * 300),
    ]
    decoder = hpack.Decoder()
    assert decoder.decode(hpack.encode(headers)) == headers
    assert decoder.dynamic == []
