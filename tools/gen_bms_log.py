#!/usr/bin/python3
"""Writes a BMS-like `candump -l` log, and optionally the readings a correct mapping must produce.

The frames follow configs/demo/bms_mapping.json: pack status (Intel, signed current), cell
voltages (Motorola, big-endian), temperatures (offset), an extended-id insulation monitor, and
an unmapped diagnostic id now and then. Values drift smoothly so a subscriber sees live data.

  gen_bms_log.py --seconds 40 --out bms.log [--expected expected.jsonl]
  gen_bms_log.py --frames 250000 --fast --out big.log      (bench: 1 ms apart)
"""
import argparse
import json
import math
import random
import struct

START = 1700000000.0


def pack_status(t):
    voltage = round(768.0 + 6.0 * math.sin(t / 17.0), 1)           # V, factor 0.1
    current = round(-120.0 + 80.0 * math.sin(t / 7.0), 1)          # A, signed, factor 0.1
    soc = round(max(0.0, 80.0 - t / 60.0) * 2) / 2                  # %, factor 0.5
    soh = 97.5
    raw = struct.pack('<Hh', round(voltage * 10), round(current * 10)) + bytes([round(soc * 2), round(soh * 2), 0, 0])
    return raw, {'pack_voltage': voltage, 'pack_current': current, 'soc': soc, 'soh': soh}


def cell_voltages(t):
    vmin = round(3.280 + 0.020 * math.sin(t / 11.0), 3)            # V, factor 0.001, Motorola
    vmax = round(vmin + 0.045 + 0.005 * math.cos(t / 5.0), 3)
    imin, imax = 17 + int(t) % 5, 201 - int(t) % 7
    raw = struct.pack('>HH', round(vmin * 1000), round(vmax * 1000)) + bytes([imin, imax, 0, 0])
    return raw, {'cell_min_voltage': vmin, 'cell_max_voltage': vmax, 'cell_min_index': imin, 'cell_max_index': imax}


def temperatures(t):
    tmin = 21 + int(3 * math.sin(t / 23.0))                           # degC, offset -40
    tmax = tmin + 6
    tavg = round((tmin + tmax) / 2 + 0.3, 1)                         # signed, factor 0.1
    raw = bytes([tmin + 40, tmax + 40]) + struct.pack('<h', round(tavg * 10)) + bytes(4)
    return raw, {'temp_min': float(tmin), 'temp_max': float(tmax), 'temp_avg': tavg}


def insulation(t):
    kohm = 2000 + int(t) % 50                                         # kOhm, extended id
    return struct.pack('<H', kohm) + bytes(6), {'insulation_resistance': float(kohm)}


MESSAGES = [  # (id text, period in s, encoder, message name)
    ('100', 0.5, pack_status, 'pack'),
    ('101', 1.0, cell_voltages, 'cells'),
    ('102', 2.0, temperatures, 'thermal'),
    ('18FF50E5', 2.0, insulation, 'imd'),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=40)
    ap.add_argument('--frames', type=int, default=0, help='stop after this many frames')
    ap.add_argument('--fast', action='store_true', help='frames 1 ms apart, all messages in turn')
    ap.add_argument('--out', required=True)
    ap.add_argument('--expected')
    ap.add_argument('--interface', default='can0')
    args = ap.parse_args()
    rng = random.Random(1)
    events = []
    if args.fast:
        n = args.frames or 1000
        for i in range(n):
            ident, _, enc, name = MESSAGES[i % 3]  # the three 11-bit messages: 11 readings per 3 frames
            events.append((START + i * 0.001, ident, enc, name))
    else:
        for ident, period, enc, name in MESSAGES:
            k = 0
            while k * period < args.seconds:
                events.append((START + k * period + rng.random() * 0.004, ident, enc, name))
                k += 1
        k = 0
        while k * 3.7 < args.seconds:  # an id no rule maps: counted, not published
            events.append((START + k * 3.7 + 0.05, '7DF', None, None))
            k += 1
        events.sort()
        if args.frames:
            events = events[:args.frames]
    expected = []
    with open(args.out, 'w') as out:
        for ts, ident, enc, name in events:
            t = ts - START
            if enc is None:
                raw = bytes([2, 1, 0, 0, 0, 0, 0, 0])
            else:
                raw, values = enc(t)
                for signal, value in values.items():
                    expected.append({'message': name, 'signal': signal, 'value': value})
            out.write('(%.6f) %s %s#%s\n' % (ts, args.interface, ident, raw.hex().upper()))
    if args.expected:
        with open(args.expected, 'w') as f:
            for e in expected:
                f.write(json.dumps(e) + '\n')


if __name__ == '__main__':
    main()
