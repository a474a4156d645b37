#!/usr/bin/python3
"""tools/outpost_decode.py, the reference decoder, against the gateway's own (uplink::decode_batch,
through tests/tools/batch_decode_dump): the same hand-built payloads, every format and compression,
random floats, mantissas and timestamps, hostile ones, and every truncation and bit flip of valid
ones. Both must accept the same payloads and read the same readings from them, member for member.
Then what only the reference decoder does: one-message readings, status, health and loss messages,
capture lines.

    outpost_decode_test.py BATCH_DECODE_DUMP
"""

import json
import math
import os
import random
import struct
import subprocess
import sys
import unittest
import zlib
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import outpost_decode as od  # noqa: E402

DUMP = None  # the C++ side, from the command line
TOPIC = "site/bess-01/batch"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Raw(bytes):
    """Bytes put into a CBOR item as they are (a hand-made head, a half float, ...)."""


def cbor(x):
    """A small CBOR encoder (RFC 8949), shortest heads, doubles as doubles."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | info]) + n.to_bytes(size, "big")
        raise ValueError(n)
    if isinstance(x, Raw):
        return bytes(x)
    if x is None:
        return b"\xf6"
    if isinstance(x, bool):
        return b"\xf5" if x else b"\xf4"
    if isinstance(x, int):
        return head(0, x) if x >= 0 else head(1, -1 - x)
    if isinstance(x, float):
        return b"\xfb" + struct.pack(">d", x)
    if isinstance(x, str):
        return head(3, len(x.encode("utf-8", "surrogatepass"))) + x.encode("utf-8", "surrogatepass")
    if isinstance(x, bytes):
        return head(2, len(x)) + x
    if isinstance(x, list):
        return head(4, len(x)) + b"".join(cbor(i) for i in x)
    raise TypeError(x)


def compact(keys, readings, gw="bess-01", ep=7, seq0=1234, ts0=1700000000100000):
    return cbor(["ob1", gw, ep, seq0, ts0, keys, readings])


def zstd(data):
    import zstandard
    return zstandard.ZstdCompressor().compress(data)


EXAMPLE_KEYS = [["pack_voltage", "V", 1], ["cell_temp", "C", 2], ["state", None, 0], ["soc", "%", 3],
                ["mode", None, 0], ["ratio", None, 0]]
EXAMPLE_READINGS = [[0, 0, 0, 7682], [1, -50, 1, 2531], [1, 100, 2, 3, "charging"], [1, 0, 3, 3310],
                    [2, -1000000, 4, "manual"], [1, 1, 5, 0.25], [1, 0, 1, -120]]
EXAMPLE_JSON = (
    '{"gw":"bess-01","ep":7,"batch":['
    '{"seq":1234,"t":"pack_voltage","ts":1700000000.100000,"value":768.2,"unit":"V"},'
    '{"seq":1235,"t":"cell_temp","ts":1700000000.099950,"value":25.31,"unit":"C"},'
    '{"seq":1236,"t":"state","ts":1700000000.100050,"value":3,"unit":null,"text":"charging"},'
    '{"seq":1237,"t":"soc","ts":1700000000.100050,"value":3.310,"unit":"%"},'
    '{"seq":1239,"t":"mode","ts":1699999999.100050,"value":"manual"},'
    '{"seq":1240,"t":"ratio","ts":1699999999.100051,"value":0.25},'
    '{"seq":1241,"t":"cell_temp","ts":1699999999.100051,"value":-1.20,"unit":"C","can_id":291,'
    '"out_of_range":true,"note":{"a":[1.50,"\\u00e9",null,2.5e2]}}]}').encode()


def json_batch(elements, gw="g", ep=0):
    return ('{"gw":"%s","ep":%d,"batch":[%s]}' % (gw, ep, ",".join(elements))).encode()


def json_reading(seq=1, t="x", ts="0", value="1", more=""):
    return '{"seq":%d,"t":"%s","ts":%s,"value":%s%s}' % (seq, t, ts, value, more)


def valid_payloads(rng):
    """Hand-built batches that both decoders must accept, with what the contract says they hold."""
    out = [compact(EXAMPLE_KEYS, EXAMPLE_READINGS), EXAMPLE_JSON]
    # Mantissas of every size and sign with decimals 0..20 (0..6 most of all).
    for decimals in list(range(7)) + [9, 15, 20]:
        mantissas = [0, 5, -5, 3310, -120, 10**6, -999999, 2**63 - 1, -(2**63), 2**64 - 1, Raw(b"\x3b" + b"\xff" * 8)]
        mantissas += [rng.randrange(-(2**64), 2**64) for _ in range(20)]
        out.append(compact([["x", "u", decimals]], [[0 if i == 0 else 1, 0, 0, m] for i, m in enumerate(mantissas)]))
    # Floats: doubles from random bits, "nice" decimals, singles and halves written by hand.
    doubles = []
    while len(doubles) < 300:
        d = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
        if math.isfinite(d):
            doubles.append(d)
    doubles += [rng.randrange(-10**6, 10**6) / 10**rng.randrange(0, 7) for _ in range(300)]
    doubles += [0.1, 0.5, 12.0, -0.0, 1e-7, 1.5e20, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308]
    singles = [Raw(b"\xfa" + rng.getrandbits(32).to_bytes(4, "big")) for _ in range(300)]
    singles = [s for s in singles if (s[1] & 0x7F, s[2] & 0x80) != (0x7F, 0x80)]  # no inf/NaN
    halves = [Raw(b"\xf9" + h.to_bytes(2, "big")) for h in range(0, 0x10000, 97) if (h >> 10) & 0x1F != 31]
    for chunk in (doubles[:300], doubles[300:], singles, halves):
        out.append(compact([["f", None, 3]], [[0 if i == 0 else 1, 1, 0, v] for i, v in enumerate(chunk)]))
    # Timestamps: random dts of either sign, and JSON seconds with up to 6 decimals.
    out.append(compact([["t", None, 0]], [[1, rng.randrange(-10**12, 10**12), 0, 1] for _ in range(200)], seq0=5))
    stamps = ["%d.%06d" % (rng.randrange(946684800, 4102444800), rng.randrange(10**6)) for _ in range(300)]
    stamps += ["0", "1.7e9", "0.000001", "-1.5", "9223372036854.775807", "1700000000.100000", "17E8"]
    out.append(json_batch([json_reading(i + 1, ts=ts) for i, ts in enumerate(stamps)]))
    # JSON numbers as written.
    numbers = ["52.30", "0.1000000000000000055511151231257827", "-0", "-0.0", "1e-07", "12E2", "0.05",
               "18446744073709551616", "-9223372036854775809", "1e-350", "1e300", "-123.456e-3", "7"]
    numbers += [repr(rng.uniform(-1e6, 1e6)) for _ in range(50)]
    out.append(json_batch([json_reading(i + 1, value=n) for i, n in enumerate(numbers)]))
    # Texts, enumerations, units null, empty or absent, unicode, extra members.
    out.append(compact([["s", None, 0], ["u", "", 1], ["v", "°C", 2], ["w/x/y", "µs", 0]],
                       [[0, 0, 0, "é ✓ 𝄞"], [1, 0, 1, 12, ""], [1, 0, 2, -7, "低"], [1, 0, 3, "", "t"]], seq0=1))
    out.append(json_batch([
        json_reading(1, value='"on"', more=',"unit":null,"text":null'),
        json_reading(2, value="1", more=',"unit":"","text":"running","can_id":1,"out_of_range":false'),
        json_reading(3, t="a/b", value='"\\u00e9\\ud834\\udd1e"', more=',"extra":{"deep":[[[1.50]]]},"n":null'),
    ], gw="gw-\\u00e9", ep=4294967295))
    # Topics: levels of the group, a long batch, the limits of seq.
    out.append(compact([["k", None, 0]], [[0, 0, 0, 1], [2**64 - 2, 0, 0, 1]], seq0=1))
    out.append(compact([["k", None, 0]], [[0 if i == 0 else 1, 1, 0, i] for i in range(5000)], seq0=1, ts0=0))
    return out


def hostile_payloads(rng):
    """Payloads that are no well-formed batch (both decoders must refuse them)."""
    k = [["x", "V", 1]]
    r = [[0, 0, 0, 1]]
    out = [
        cbor(["ob2", "g", 1, 1, 0, k, r]), cbor(["ob1", 5, 1, 1, 0, k, r]), cbor(["ob1", "", 1, 1, 0, k, r]),
        cbor(["ob1", "g", -1, 1, 0, k, r]), cbor(["ob1", "g", 2**32, 1, 0, k, r]), cbor(["ob1", "g", 1, 1.0, 0, k, r]),
        cbor(["ob1", "g", 1, 1, 2**63, k, r]), cbor(["ob1", "g", 1, 1, 0, Raw(b"\xa0"), r]),
        cbor(["ob1", "g", 1, 1, 0, [["x", "V"]], r]), cbor(["ob1", "g", 1, 1, 0, [["", "V", 1]], r]),
        cbor(["ob1", "g", 1, 1, 0, [["x", 1, 1]], r]), cbor(["ob1", "g", 1, 1, 0, [["x", "V", -1]], r]),
        cbor(["ob1", "g", 1, 1, 0, [["x", "V", 21]], r]), cbor(["ob1", "g", 1, 1, 0, k, "r"]),
        cbor(["ob1", "g", 1, 1, 0, k, []]), cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, 1, "a", "b"]]]), cbor(["ob1", "g", 1, 1, 0, k, [["0", 0, 0, 1]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0.5, 0, 1]]]), cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, -1, 1]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 1, 1]]]), cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, []]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, True]]]), cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, 1, 2]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, 1, None]]]), cbor(["ob1", b"\x01\x02", 1, 1, 0, k, r]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, float("nan")]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, float("inf")]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, Raw(b"\xf9\x7c\x00")]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, Raw(b"\xf8\x10")]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, Raw(b"\xc1\x01")]]]),
        cbor(["ob1", "g\udc80", 1, 1, 0, k, r]), cbor(["ob1", "g", 1, 1, 0, [["\ud800", "V", 1]], r]),
        b"\x87\x63ob1\x61g\x01\x01\x00\x9f\xff\x80", b"\x88\x63ob1", b"\x87\xc0\x63ob1" + bytes(8), b"\xa7",
        cbor(["ob1", "g", 1, 1, 0, k]), cbor(["ob1", "g", 1, 1, 0, k, r]) + b"\x00",
        cbor(["ob1", "g", 1, 1, 0, k, [[0, 0, 0, 1], [-1, 0, 0, 1]]]),
        cbor(["ob1", "g", 1, 2**64 - 1, 0, k, [[0, 0, 0, 1], [1, 0, 0, 1]]]),
        cbor(["ob1", "g", 1, 0, 0, k, r]),
        cbor(["ob1", "g", 1, 2, 0, k, [[0, 0, 0, 1], [Raw(b"\x3b" + b"\xff" * 8), 0, 0, 1]]]),
        cbor(["ob1", "g", 1, 1, 2**63 - 1, k, [[0, 1, 0, 1]]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0, -(2**63), 0, 1], [1, -1, 0, 1]]]),
        cbor(["ob1", "g", 1, 1, 0, [["x", None, 0]] * 100001, r]),
        cbor(["ob1", "g", 1, 1, 0, [["s" * 60000, None, 0]], [[0 if i == 0 else 1, 0, 0, 0] for i in range(100000)]]),
        cbor(["ob1", "g", 1, 1, 0, k, [[0 if i == 0 else 1, 0, 0, 0] for i in range(100001)]]),
        json_batch([json_reading(value="1e-400")]), json_batch([json_reading(value="1e400")]),
        json_batch([json_reading(value="1" + "0" * 400)]), json_batch([json_reading(value="true")]),
        json_batch([json_reading(value="NaN")]), json_batch([json_reading(value="Infinity")]),
        json_batch([json_reading(ts="1.0000001")]), json_batch([json_reading(ts="9223372036854.775808")]),
        json_batch([json_reading(ts='"1"')]), json_batch([json_reading(seq=0)]),
        json_batch(['{"seq":-1,"t":"x","ts":0,"value":1}']),
        json_batch(['{"seq":18446744073709551616,"t":"x","ts":0,"value":1}']),
        json_batch(['{"seq":1.0,"t":"x","ts":0,"value":1}']), json_batch([json_reading(t="")]),
        json_batch([json_reading(more=',"unit":5')]), json_batch([json_reading(more=',"text":[]')]),
        json_batch(['{"seq":1,"t":"x","ts":0}']), json_batch([json_reading(more=',"seq":2')]),
        json_batch([json_reading(more=',"deep":' + "[" * 40 + "]" * 40)]),
        json_batch([json_reading(more=',"deep":' + "[" * 100000 + "]" * 100000)]),
        json_batch([json_reading(value='"\\ud800"')]), json_batch(["1"]), json_batch([]),
        json_batch([json_reading(i + 1) for i in range(100001)]),
        b'{"gw":"g","ep":1,"seq":3,"ts":1.5,"value":1}', b"[1,2]", b'{"gw":"g","ep":1,"batch":[]} x',
        b'{"gw":"g","ep":1,"batch":{}}', b'{"gw":1,"ep":1,"batch":[]}', b'{"ep":1,"batch":[]}',
        b'{"gw":"g","ep":1.0,"batch":[]}', b'{"gw":"g","ep":4294967296,"batch":[]}', b'{"gw":"g","ep":true,"batch":[]}',
        b'{"gw":"g","gw":"h","ep":1,"batch":[]}', b"{" * 100000, b" \n{", b"", b'{"gw":"\xc0\xaf"}', b"\xef\xbb\xbf{}",
        b'{"gw":"g","ep":1,"batch":[' + json_reading().encode() + b"]}\xff",
    ]
    # Compressed: damaged, truncated, trailing bytes, twice, and bombs past 16 MiB.
    plain = compact(EXAMPLE_KEYS, EXAMPLE_READINGS)
    for z in (zstd(plain), zlib.compress(plain)):
        out += [z[:-1], z[:6], z + b"x", z + z, zstd(z), zlib.compress(z)]
    out += [zstd(bytes(17 << 20)), zlib.compress(bytes(17 << 20)), zstd(b" " * (16 << 20) + b"{")]
    return out


def mutations(payload, rng, flips):
    """Every truncation, and `flips` random single-bit flips and byte changes."""
    out = [payload[:n] for n in range(len(payload))]
    for _ in range(flips):
        i = rng.randrange(len(payload))
        b = bytearray(payload)
        if rng.random() < 0.7:
            b[i] ^= 1 << rng.randrange(8)
        else:
            b[i] = rng.randrange(256)
        out.append(bytes(b))
    return out


def cpp_decode(payloads, topics):
    lines = "".join(f"{t} {p.hex()}\n" for t, p in zip(topics, payloads))
    result = subprocess.run([DUMP], input=lines.encode(), stdout=subprocess.PIPE, check=True)
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def comparable(reading):
    """A reference reading in the C++ dump's shape (absent unit and text are empty there)."""
    return {"gw": reading["gw"], "ep": reading["ep"], "seq": reading["seq"], "topic": reading["topic"],
            "ts_us": reading["ts_us"], "value": reading["value"], "value_is_text": reading.get("value_is_text", False),
            "unit": reading["unit"] or "", "text": reading["text"] or "", "extra": reading.get("extra", {})}


def cpp_comparable(reading):
    extra = json.loads("{" + reading["extra"] + "}", parse_float=Decimal)
    return {**reading, "extra": extra}


class AgreesWithTheGatewaysDecoder(unittest.TestCase):
    def check(self, payloads, topics=None, expect=None):
        topics = topics or [TOPIC] * len(payloads)
        cpp = cpp_decode(payloads, topics)
        self.assertEqual(len(cpp), len(payloads))
        accepted = 0
        for i, (payload, topic, theirs) in enumerate(zip(payloads, topics, cpp)):
            try:
                ours = [comparable(r) for r in od.decode_batch(topic, payload)]
                problem = None
            except od.DecodeError as e:
                ours, problem = None, str(e)
            where = f"payload {i} ({payload[:60]!r}, {len(payload)} bytes): C++ {theirs.get('problem')}, Python {problem}"
            self.assertEqual(theirs["ok"], ours is not None, where)
            if expect is not None:
                self.assertEqual(theirs["ok"], expect, where)
            if ours is not None:
                accepted += 1
                self.assertEqual([cpp_comparable(r) for r in theirs["readings"]], ours, where)
        return accepted

    def test_valid_payloads_in_every_compression(self):
        rng = random.Random(1)
        payloads = []
        for p in valid_payloads(rng):
            payloads += [p, zstd(p), zlib.compress(p)]
        self.assertEqual(self.check(payloads, expect=True), len(payloads))

    def test_hostile_payloads_are_refused_by_both(self):
        self.assertEqual(self.check(hostile_payloads(random.Random(2)), expect=False), 0)

    def test_topics_give_the_group(self):
        p = compact([["a/b", None, 0]], [[0, 0, 0, 1]])
        topics = ["g1/g2/g3/batch", "/batch", "batch", "a/", "é/x"]
        self.assertEqual(self.check([p] * len(topics), topics), 4)

    def test_every_truncation_and_random_damage(self):
        rng = random.Random(3)
        valid = valid_payloads(random.Random(1))
        chosen = [valid[0], valid[1], valid[2], valid[-4], valid[-3], zstd(valid[0]), zlib.compress(valid[1])]
        payloads = []
        for p in chosen:
            payloads += mutations(p, rng, 3000)
        accepted = self.check(payloads)
        self.assertGreater(accepted, 100)  # flips inside a value or a text still make a batch
        self.assertLess(accepted, len(payloads) // 2)

    def test_the_fuzz_corpus(self):
        corpus = os.path.join(SOURCE, "tests", "fuzz", "corpus", "batch_decoder")
        payloads = []
        for name in sorted(os.listdir(corpus)):
            with open(os.path.join(corpus, name), "rb") as f:
                payloads.append(f.read())
        self.assertGreater(self.check(payloads), 0)


class ReadsWhatTheContractSays(unittest.TestCase):
    def test_the_example_batch_exactly(self):
        for payload in (compact(EXAMPLE_KEYS, EXAMPLE_READINGS), zstd(EXAMPLE_JSON), zlib.compress(EXAMPLE_JSON)):
            readings = od.decode(TOPIC, payload)
            self.assertEqual([(r["seq"], r["topic"], r["ts_us"], r["value"], r["unit"], r["text"]) for r in readings], [
                (1234, "site/bess-01/pack_voltage", 1700000000100000, "768.2", "V", None),
                (1235, "site/bess-01/cell_temp", 1700000000099950, "25.31", "C", None),
                (1236, "site/bess-01/state", 1700000000100050, "3", None, "charging"),
                (1237, "site/bess-01/soc", 1700000000100050, "3.31", "%", None),
                (1239, "site/bess-01/mode", 1699999999100050, "manual", None, None),
                (1240, "site/bess-01/ratio", 1699999999100051, "0.25", None, None),
                (1241, "site/bess-01/cell_temp", 1699999999100051, "-1.2", "C", None)])
            self.assertTrue(readings[4]["value_is_text"])
            self.assertNotIn("value_is_text", readings[0])

    def test_mantissas(self):
        cases = [(3310, 3, "3.31"), (5, 2, "0.05"), (-120, 1, "-12"), (0, 6, "0"), (100, 2, "1"), (1, 6, "0.000001")]
        for mantissa, decimals, text in cases:
            payload = compact([["x", None, decimals]], [[0, 0, 0, mantissa]])
            self.assertEqual(od.decode(TOPIC, payload)[0]["value"], text)

    def test_one_message_forms(self):
        reading = od.decode("site/bess-01/pack/v", b'{"gw":"bess-01","ep":7,"seq":1234,"ts":1700000000.100000,'
                                                    b'"value":52.30,"unit":"V","out_of_range":true}')
        self.assertEqual(reading, [{"gw": "bess-01", "ep": 7, "seq": 1234, "topic": "site/bess-01/pack/v",
                                    "ts_us": 1700000000100000, "value": "52.3", "unit": "V", "text": None,
                                    "extra": {"out_of_range": True}}])
        text = od.decode("t/x", b'{"gw":"g","ep":1,"seq":2,"ts":1.5,"value":"on","text":null}')
        self.assertEqual((text[0]["value"], text[0]["value_is_text"], text[0]["text"]), ("on", True, None))
        loss = od.decode("site/bess-01/status/loss", b'{"gw":"bess-01","ep":7,"seq":9,"ts":1.5,"loss":'
                                                     b'{"reason":"evicted_quota","count":3,"first_seq":2,"last_seq":4}}')
        self.assertEqual(loss[0]["kind"], "loss")
        self.assertEqual(loss[0]["loss"]["first_seq"], 2)
        status = od.decode("site/bess-01/status", b'{"gw":"bess-01","state":"online"}')
        self.assertEqual(status, [{"gw": "bess-01", "state": "online", "kind": "status", "topic": "site/bess-01/status"}])
        health = od.decode("site/bess-01/health", b'{"gw":"bess-01","uptime_s":12.5}')
        self.assertEqual(health[0]["kind"], "health")
        self.assertEqual(od.to_json(health[0]), '{"gw":"bess-01","uptime_s":12.5,"kind":"health",'
                                                '"topic":"site/bess-01/health"}')
        for bad in (b'{"ep":1,"seq":2,"ts":1,"value":1}', b'{"gw":"g","seq":-2,"ts":1,"value":1}',
                    b'{"gw":"g","seq":2,"value":1}', b"not json", zlib.compress(b'{"gw":"g","seq":1,"ts":1,"value":1}')):
            with self.assertRaises(od.DecodeError, msg=bad):
                od.decode("t", bad)

    def test_without_the_zstandard_module_the_zstd_program_inflates(self):
        payload = zstd(compact(EXAMPLE_KEYS, EXAMPLE_READINGS))
        saved = sys.modules.get("zstandard")
        sys.modules["zstandard"] = None  # import fails
        try:
            self.assertEqual(len(od.decode(TOPIC, payload)), 7)
            for bad in (payload[:-2], payload + b"x", saved.ZstdCompressor().compress(bytes(17 << 20))):
                with self.assertRaises(od.DecodeError):
                    od.decode(TOPIC, bad)
        finally:
            sys.modules["zstandard"] = saved

    def test_capture_lines(self):
        self.assertEqual(od.parse_line("site/gw/batch 8700ff\n"), ("site/gw/batch", b"\x87\x00\xff"))
        self.assertEqual(od.parse_line("1700000000.250000000 a/d e 7b7d\n"), ("a/d e", b"{}"))
        self.assertEqual(od.parse_line("a/c \n"), ("a/c", b""))
        self.assertEqual(od.parse_line('site/gw/v {"gw":"g"}\r\n'), ("site/gw/v", b'{"gw":"g"}'))
        self.assertEqual(od.parse_line('1700000000.5 site/gw/v {"a": 1}'), ("site/gw/v", b'{"a": 1}'))
        self.assertEqual(od.parse_line("t 7b7d", "text"), ("t", b"7b7d"))
        with self.assertRaises(od.DecodeError):
            od.parse_line("t 7b7", "hex")

    def test_the_command(self):
        payload = compact(EXAMPLE_KEYS, EXAMPLE_READINGS)
        capture = f"{TOPIC} {zstd(payload).hex()}\nsite/bess-01/v {{\"gw\":\"bess-01\",\"ep\":7,\"seq\":1,\"ts\":1,\"value\":1}}\n"
        capture += f"{TOPIC} 8701\n"
        result = subprocess.run([sys.executable, os.path.join(SOURCE, "tools", "outpost_decode.py")],
                                input=capture.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(result.returncode, 1)
        lines = result.stdout.decode().splitlines()
        self.assertEqual(len(lines), 8)
        self.assertEqual(json.loads(lines[0])["value"], "768.2")
        self.assertEqual(json.loads(lines[7])["topic"], "site/bess-01/v")
        self.assertIn("not a CBOR array of 7 items", result.stderr.decode())


if __name__ == "__main__":
    DUMP = sys.argv.pop(1)
    unittest.main()
