#!/usr/bin/python3
"""Reference decoder for what Outpost publishes (uplink/payload_formats.md, the contract).

Reads every format: one message per reading (JSON), batched JSON, the compact CBOR batch, either
batch compressed with zstd or zlib; status, health and loss messages too. Python 3 standard
library, plus the `zstandard` module (python3-zstandard) or else the `zstd` program for zstd.

    mosquitto_sub -t '#' -F '%t %x' | tools/outpost_decode.py        # hex: every format
    mosquitto_sub -t '#' -v | tools/outpost_decode.py                 # text: JSON formats only
    tools/outpost_decode.py capture.txt
    tools/outpost_decode.py --host broker --port 1883 --topic 'site/#'   # needs paho-mqtt

prints one JSON object per reading:
    {"gw","ep","seq","topic","ts_us","value","unit","text"}
`value` is the number as canonical decimal text ("52.3", "12", "0.05": no exponent, no
superfluous zero; a float's shortest round-trip digits), or a text value with "value_is_text":
true. `unit` and `text` are null when absent. Other members of the reading (out_of_range,
can_id, ...) go under "extra". Status, health and loss messages print as they are, with "kind"
("status", "health" or "loss") and "topic".

As a module: decode(topic, payload_bytes) returns that list of dicts, or raises DecodeError.
The rules match the gateway's own decoder (uplink/batch_decoder.hpp) check for check, and
tests/tools/outpost_decode_test.py holds them to it.
"""

import argparse
import json
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from decimal import Decimal

MAX_READINGS = 100_000
MAX_INFLATED = 16 << 20  # what a compressed payload may inflate to
MAX_DECIMALS = 20  # a compact key's decimals
MAX_DECIMAL_TEXT = 400  # the longest canonical number text (a double needs 326 at most)
MAX_TEXT = 64 << 20  # the text the readings of one batch may add up to
MAX_DEPTH = 32  # JSON nesting
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
JSON_SPACE = " \t\r\n"


class DecodeError(ValueError):
    """A payload that is not what payload_formats.md describes; the message says why."""


# --- numbers: exact decimals and their canonical text ---------------------------------------

def _normalise(negative, digits, exponent):
    """(negative, digits without leading or trailing zeros, exponent); zero is (False, "", 0)."""
    digits = digits.lstrip("0")
    stripped = digits.rstrip("0")
    if not stripped:
        return False, "", 0
    return negative, stripped, exponent + len(digits) - len(stripped)


def _parts(number):
    """An int or a finite Decimal as normalised (negative, digits, exponent)."""
    sign, digits, exponent = Decimal(number).as_tuple()
    return _normalise(bool(sign), "".join(map(str, digits)), exponent)


def canonical(number):
    """The canonical text of an int or a finite Decimal: no exponent, no superfluous zero."""
    return _text(*_parts(number))


def _text(negative, digits, exponent):
    if not digits:
        return "0"
    point = len(digits) + exponent  # digits before the point
    if exponent >= 0:
        length = point
    elif point > 0:
        length = len(digits) + 1
    else:
        length = 2 - point + len(digits)
    if length + negative > MAX_DECIMAL_TEXT:
        raise DecodeError(f"a number of more than {MAX_DECIMAL_TEXT} digits")
    if exponent >= 0:
        text = digits + "0" * exponent
    elif point > 0:
        text = digits[:point] + "." + digits[point:]
    else:
        text = "0." + "0" * -point + digits
    return "-" + text if negative else text


def microseconds(seconds):
    """Seconds (an int or a Decimal) as whole microseconds within 64 bits, exactly."""
    negative, digits, exponent = _parts(seconds)
    zeros = exponent + 6
    if digits and (zeros < 0 or len(digits) + zeros > 19):
        raise DecodeError("ts is not seconds with at most 6 decimals within 64 bits of microseconds")
    us = int(digits or "0") * 10**max(zeros, 0)
    us = -us if negative else us
    if not -(2**63) <= us < 2**63:
        raise DecodeError("ts is not seconds with at most 6 decimals within 64 bits of microseconds")
    return us


# --- compression -----------------------------------------------------------------------------

def compression_of(payload):
    if payload[:4] == ZSTD_MAGIC:
        return "zstd"
    if len(payload) >= 2 and payload[0] == 0x78 and (payload[0] << 8 | payload[1]) % 31 == 0:
        return "zlib"
    return None


def _inflate_zlib(payload):
    problem = "a damaged or truncated zlib stream, or one that inflates beyond 16 MiB"
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, MAX_INFLATED + 1)
    except zlib.error as e:
        raise DecodeError(problem) from e
    if len(out) > MAX_INFLATED or not inflater.eof or inflater.unused_data:
        raise DecodeError(problem)
    return out


def _inflate_zstd(payload):
    problem = "a damaged or truncated zstd stream, or one that inflates beyond 16 MiB"
    try:
        import zstandard
    except ImportError:
        return _inflate_zstd_program(payload, problem)
    inflater = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    try:
        # Small steps: a block of a few bytes may inflate to 128 KiB, so the cap is checked often.
        for at in range(0, len(payload), 64):
            out += inflater.decompress(payload[at:at + 64])
            if len(out) > MAX_INFLATED or inflater.eof:
                break
    except zstandard.ZstdError as e:
        raise DecodeError(problem) from e
    if len(out) > MAX_INFLATED or not inflater.eof or inflater.unused_data or at + 64 < len(payload):
        raise DecodeError(problem)
    return bytes(out)


def _inflate_zstd_program(payload, problem):
    # The zstd program also takes a second frame after the first (the module does not).
    with tempfile.NamedTemporaryFile() as f:
        f.write(payload)
        f.flush()
        with subprocess.Popen(["zstd", "-dcq", f.name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as p:
            out = p.stdout.read(MAX_INFLATED + 1)
            if len(out) > MAX_INFLATED:
                p.kill()
            status = p.wait()
    if len(out) > MAX_INFLATED or status != 0:
        raise DecodeError(problem)
    return out


def inflate(payload):
    """The payload itself, or what its zstd frame or zlib stream inflates to (16 MiB at most)."""
    kind = compression_of(payload)
    if kind == "zstd":
        return _inflate_zstd(payload)
    if kind == "zlib":
        return _inflate_zlib(payload)
    return payload


# --- JSON: numbers kept exact, duplicate members and deep nesting refused ----------------------

def _json_float(text):
    number = Decimal(text)
    if float(number) in (float("inf"), float("-inf")):
        raise DecodeError(f"a number beyond a double's range: {text[:40]}")
    return number


def _json_int(text):
    number = int(text)
    if not -(2**63) <= number < 2**64:
        _json_float(text)  # beyond 64 bits a JSON reader falls back to a double
    return number


def _members(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise DecodeError(f'the member "{key}" appears twice in one object')
        obj[key] = value
    return obj


def _check_nesting(value, depth=1):
    if isinstance(value, str):
        value.encode("utf-8")  # a lone surrogate from a \u escape raises
    elif isinstance(value, (dict, list)):
        if depth > MAX_DEPTH:
            raise DecodeError(f"nested deeper than {MAX_DEPTH} levels")
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            _check_nesting(key, depth)
            _check_nesting(item, depth + 1)


def _constant(name):
    raise DecodeError(f"not JSON: {name}")


def parse_json(text):
    """A JSON object, float numbers as Decimal (their text exact), int numbers as int."""
    if not text.lstrip(JSON_SPACE).startswith("{"):
        raise DecodeError("not a JSON object")
    try:
        doc = json.loads(text, object_pairs_hook=_members, parse_float=_json_float, parse_int=_json_int,
                         parse_constant=_constant)
        _check_nesting(doc)
    except DecodeError:
        raise
    except (ValueError, RecursionError) as e:  # a UnicodeError is a ValueError
        raise DecodeError(f"not JSON: {e}") from e
    return doc


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_text(value, name):
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DecodeError(f"{name} is neither a string nor null")
    return value


def _value(value, reading):
    if isinstance(value, str):
        reading["value"] = value
        reading["value_is_text"] = True
    elif _is_int(value) or isinstance(value, Decimal):
        reading["value"] = canonical(value)
    else:
        raise DecodeError("the value is neither a string nor a number")


# --- the formats ---------------------------------------------------------------------------------

class _Readings:
    """Collects a batch's readings: their topics under the group, and the text budget."""

    def __init__(self, topic):
        self.group = topic.rpartition("/")[0] if "/" in topic else None
        self.readings = []
        self.text = 0

    def expect(self, count):
        if self.group is None:
            raise DecodeError("the batch topic has no level to take off (its readings' topics start with its group)")
        if count == 0:
            raise DecodeError("the batch holds no reading")
        if count > MAX_READINGS:
            raise DecodeError(f"the batch holds {count} readings, more than the {MAX_READINGS} allowed")

    def add(self, reading, suffix):
        reading["topic"] = self.group + "/" + suffix
        self.text += sum(len((reading.get(k) or "").encode("utf-8"))
                         for k in ("gw", "topic", "value", "unit", "text"))
        if self.text > MAX_TEXT:
            raise DecodeError("the readings add up to more than 64 MiB of text")
        self.readings.append(reading)


def _new_reading(gw, ep, seq, ts_us):
    return {"gw": gw, "ep": ep, "seq": seq, "topic": None, "ts_us": ts_us, "value": None, "unit": None,
            "text": None}


def decode_json_batch(topic, doc):
    gw, ep, batch = doc.get("gw"), doc.get("ep"), doc.get("batch")
    if not isinstance(gw, str) or not gw:
        raise DecodeError("gw is not a non-empty string")
    if not _is_int(ep) or not 0 <= ep < 2**32:
        raise DecodeError("ep is not an unsigned 32-bit integer")
    if not isinstance(batch, list):
        raise DecodeError("batch is not an array")
    out = _Readings(topic)
    out.expect(len(batch))
    for i, element in enumerate(batch, 1):
        try:
            if not isinstance(element, dict):
                raise DecodeError("not a JSON object")
            if not all(k in element for k in ("seq", "t", "ts", "value")):
                raise DecodeError("it lacks one of seq, t, ts and value")
            seq, suffix, ts = element["seq"], element["t"], element["ts"]
            if not _is_int(seq) or not 1 <= seq < 2**64:
                raise DecodeError("seq is not an unsigned 64-bit integer of 1 or more")
            if not isinstance(suffix, str) or not suffix:
                raise DecodeError("t (the topic suffix) is not a non-empty string")
            if not (_is_int(ts) or isinstance(ts, Decimal)):
                raise DecodeError("ts is not a number")
            reading = _new_reading(gw, ep, seq, microseconds(ts))
            _value(element["value"], reading)
            reading["unit"] = _optional_text(element.get("unit"), "unit")
            reading["text"] = _optional_text(element.get("text"), "text")
            extra = {k: v for k, v in element.items() if k not in ("seq", "t", "ts", "value", "unit", "text")}
            if extra:
                reading["extra"] = extra
            out.add(reading, suffix)
        except DecodeError as e:
            raise DecodeError(f"reading {i}: {e}") from e
    return out.readings


class _Cbor:
    """A strict reader for the CBOR items of the compact batch: integers, text, definite arrays,
    null and floats (RFC 8949)."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def _head(self):
        """(major type, additional info, argument, bytes of the head), or None."""
        if self.pos >= len(self.data):
            return None
        initial = self.data[self.pos]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info, info, 1
        if info > 27:
            return None  # reserved, or an indefinite length
        size = 1 << (info - 24)
        if len(self.data) - self.pos < 1 + size:
            return None
        return major, info, int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "big"), 1 + size

    def kind(self):
        head = self._head()
        if head is None:
            return None
        major, info = head[0], head[1]
        if major == 7:
            return "null" if info == 22 else "float" if 25 <= info <= 27 else None
        return {0: "int", 1: "int", 3: "text", 4: "array"}.get(major)

    def unsigned(self, what):
        head = self._head()
        if head is None or head[0] != 0:
            raise DecodeError(what)
        self.pos += head[3]
        return head[2]

    def integer(self, what):
        head = self._head()
        if head is None or head[0] not in (0, 1):
            raise DecodeError(what)
        self.pos += head[3]
        return head[2] if head[0] == 0 else -1 - head[2]

    def text(self, what):
        head = self._head()
        if head is None or head[0] != 3 or head[2] > len(self.data) - self.pos - head[3]:
            raise DecodeError(what)
        start = self.pos + head[3]
        try:
            text = self.data[start:start + head[2]].decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(what) from e
        self.pos = start + head[2]
        return text

    def array(self, what):
        head = self._head()
        if head is None or head[0] != 4 or head[2] > len(self.data) - self.pos - head[3]:
            raise DecodeError(what)
        self.pos += head[3]
        return head[2]

    def null(self):
        if self.kind() != "null":
            return False
        self.pos += 1
        return True

    def floating(self):
        head = self._head()
        self.pos += head[3]
        return struct.unpack({25: ">e", 26: ">f", 27: ">d"}[head[1]], self.data[self.pos - head[3] + 1:self.pos])[0]


def _compact_value(cbor, decimals, reading):
    kind = cbor.kind()
    if kind == "int":
        mantissa = cbor.integer("")  # exactly: the value is mantissa / 10^decimals
        reading["value"] = _text(*_normalise(mantissa < 0, str(abs(mantissa)), -decimals))
    elif kind == "float":
        value = cbor.floating()
        if value != value or value in (float("inf"), float("-inf")):
            raise DecodeError("the value is not a finite number")
        reading["value"] = canonical(Decimal(repr(value)))
    elif kind == "text":
        reading["value"] = cbor.text("the value is not an integer, a float or a valid text")
        reading["value_is_text"] = True
    else:
        raise DecodeError("the value is not an integer, a float or a valid text")


def decode_cbor_batch(topic, data):
    cbor = _Cbor(data)
    if cbor.array("not a CBOR array of 7 items") != 7:
        raise DecodeError("not a CBOR array of 7 items")
    if cbor.text('item 0 is not the format marker "ob1"') != "ob1":
        raise DecodeError('item 0 is not the format marker "ob1"')
    gw = cbor.text("item 1 (gw) is not a non-empty text")
    if not gw:
        raise DecodeError("item 1 (gw) is not a non-empty text")
    ep = cbor.unsigned("item 2 (ep) is not an unsigned 32-bit integer")
    if ep >= 2**32:
        raise DecodeError("item 2 (ep) is not an unsigned 32-bit integer")
    seq = cbor.unsigned("item 3 (seq0) is not an unsigned integer")
    ts = cbor.unsigned("item 4 (ts0) is not an unsigned 63-bit integer")
    if ts >= 2**63:
        raise DecodeError("item 4 (ts0) is not an unsigned 63-bit integer")
    keys = []
    count = cbor.array("item 5 (keys) is not an array")
    if count > MAX_READINGS:
        raise DecodeError("more keys than a batch can have readings")
    for i in range(count):
        where = f"key {i}: "
        if cbor.array(where + "not an array of 3 items") != 3:
            raise DecodeError(where + "not an array of 3 items")
        suffix = cbor.text(where + "the suffix is not a non-empty text")
        if not suffix:
            raise DecodeError(where + "the suffix is not a non-empty text")
        unit = None if cbor.null() else cbor.text(where + "the unit is neither text nor null")
        decimals = cbor.unsigned(where + f"decimals is not an unsigned integer up to {MAX_DECIMALS}")
        if decimals > MAX_DECIMALS:
            raise DecodeError(where + f"decimals is not an unsigned integer up to {MAX_DECIMALS}")
        keys.append((suffix, unit or None, decimals))

    out = _Readings(topic)
    count = cbor.array("item 6 (readings) is not an array")
    out.expect(count)
    for i in range(1, count + 1):
        try:
            size = cbor.array("not an array of 4 or 5 items")
            if size not in (4, 5):
                raise DecodeError("not an array of 4 or 5 items")
            seq += cbor.integer("dseq is not an integer")
            if not 1 <= seq < 2**64:
                raise DecodeError("its seq goes below 1 or past 2^64-1")
            ts += cbor.integer("dts is not an integer")
            if not -(2**63) <= ts < 2**63:
                raise DecodeError("its timestamp goes past 64 bits")
            key = cbor.unsigned("the key is not an unsigned integer")
            if key >= len(keys):
                raise DecodeError(f"key {key} is out of range ({len(keys)} keys)")
            suffix, unit, decimals = keys[key]
            reading = _new_reading(gw, ep, seq, ts)
            reading["unit"] = unit
            _compact_value(cbor, decimals, reading)
            if size == 5:
                reading["text"] = cbor.text("the text (item 4) is not a valid text")
            out.add(reading, suffix)
        except DecodeError as e:
            raise DecodeError(f"reading {i}: {e}") from e
    if cbor.pos != len(data):
        raise DecodeError(f"{len(data) - cbor.pos} trailing byte(s) after the CBOR item")
    return out.readings


def decode_message(topic, doc):
    """One JSON message that is not a batch: a reading, or a loss, status or health message."""
    gw = doc.get("gw")
    if not isinstance(gw, str) or not gw:
        raise DecodeError("no gw")
    if "loss" in doc:
        return [{**doc, "kind": "loss", "topic": topic}]
    if "seq" not in doc:
        return [{**doc, "kind": "status" if isinstance(doc.get("state"), str) else "health", "topic": topic}]
    seq, ep = doc["seq"], doc.get("ep", 0)
    if not _is_int(seq) or not 0 <= seq < 2**64:
        raise DecodeError("seq is not an unsigned 64-bit integer")
    if not _is_int(ep) or not 0 <= ep < 2**64:
        raise DecodeError("ep is not an unsigned 64-bit integer")
    if "ts" not in doc or "value" not in doc:
        raise DecodeError("a reading without ts or value")
    ts = doc["ts"]
    if not (_is_int(ts) or isinstance(ts, Decimal)):
        raise DecodeError("ts is not a number")
    reading = _new_reading(gw, ep, seq, microseconds(ts))
    reading["topic"] = topic
    _value(doc["value"], reading)
    reading["unit"] = _optional_text(doc.get("unit"), "unit")
    reading["text"] = _optional_text(doc.get("text"), "text")
    extra = {k: v for k, v in doc.items() if k not in ("gw", "ep", "seq", "ts", "value", "unit", "text")}
    if extra:
        reading["extra"] = extra
    return [reading]


def _document(payload):
    """("cbor", bytes) or ("json", the parsed object), inflated first when compressed."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    data = inflate(payload)
    if not data:
        raise DecodeError("an empty payload")
    if data[0] == 0x87:
        return "cbor", data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError(f"not a batch: it starts with the byte 0x{data[0]:02X}") from e
    if not text.lstrip(JSON_SPACE).startswith("{"):
        raise DecodeError(f"not a batch: it starts with the byte 0x{data[0]:02X}")
    return "json", parse_json(text)


def decode_batch(topic, payload):
    """The readings of a batch, like the gateway's uplink::decode_batch(): DecodeError for anything
    else, a one-message payload included."""
    kind, doc = _document(payload)
    if kind == "cbor":
        return decode_cbor_batch(topic, doc)
    if "batch" not in doc:
        raise DecodeError("no batch member (a one-message payload?)")
    return decode_json_batch(topic, doc)


def decode(topic, payload):
    """Every reading (or status, health or loss message) of one MQTT message, as dicts.
    `payload` is bytes (a str is taken as UTF-8). Raises DecodeError for anything malformed."""
    if compression_of(payload if isinstance(payload, bytes) else payload.encode("utf-8")):
        return decode_batch(topic, payload)  # only batches are compressed
    kind, doc = _document(payload)
    if kind == "cbor" or "batch" in doc:
        return decode_batch(topic, payload)
    return decode_message(topic, doc)


# --- the command ---------------------------------------------------------------------------------

def to_json(value):
    """JSON text; a Decimal as its number text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + to_json(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


_TIME = re.compile(r"\d+\.\d+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def parse_line(line, form="auto"):
    """(topic, payload bytes) from a `mosquitto_sub -F '%t %x'` (or '%U %t %x') line, or a `-v`
    (or '%U %t %p') line. `form` is "hex", "text" or "auto" (hex when the last field is hex)."""
    line = line.rstrip("\r\n")
    first, _, rest = line.partition(" ")
    hex_form = form == "hex" or (form == "auto" and " " in line and _HEX.fullmatch(line.rpartition(" ")[2]))
    if hex_form:
        if _TIME.fullmatch(first) and " " in rest:
            line = rest
        topic, _, digits = line.rpartition(" ") if " " in line else (line, "", "")
        if not _HEX.fullmatch(digits):
            raise DecodeError("the payload is not hex")
        return topic, bytes.fromhex(digits)
    if _TIME.fullmatch(first) and rest.partition(" ")[0]:
        first, _, rest = rest.partition(" ")
    return first, rest.encode("utf-8", "surrogateescape")


def _print(topic, payload, out):
    try:
        for item in decode(topic, payload):
            out.write(to_json(item) + "\n")
        return True
    except DecodeError as e:
        sys.stderr.write(f"outpost_decode: {topic}: {e}\n")
        return False


def _subscribe(args):
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        sys.exit("outpost_decode: --host needs paho-mqtt (python3-paho-mqtt)")

    def on_connect(client, userdata, flags, rc):
        for topic in args.topic or ["#"]:
            client.subscribe(topic, 1)

    def on_message(client, userdata, message):
        _print(message.topic, message.payload, sys.stdout)
        sys.stdout.flush()

    client = mqtt.Client()
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(args.host, args.port)
    try:
        client.loop_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", nargs="?", default="-", help="a mosquitto_sub capture ('-' or nothing: stdin)")
    parser.add_argument("--format", choices=("auto", "hex", "text"), default="auto",
                        help="capture lines: -F '%%t %%x' (hex), -v (text), or told apart line by line")
    parser.add_argument("--host", help="subscribe to this broker instead of reading a capture (paho-mqtt)")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--topic", action="append", help="topic filter, repeatable (default #)")
    args = parser.parse_args(argv)
    if args.host:
        return _subscribe(args)
    ok = True
    source = sys.stdin if args.capture == "-" else open(args.capture, encoding="utf-8", errors="surrogateescape")
    with source:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                topic, payload = parse_line(line, args.format)
            except DecodeError as e:
                sys.stderr.write(f"outpost_decode: line {number}: {e}\n")
                ok = False
                continue
            ok = _print(topic, payload, sys.stdout) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
