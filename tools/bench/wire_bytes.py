#!/usr/bin/python3
"""Runs the gateway once per payload format over the same replayed traffic and prints bytes on the
wire per reading; checks with the reference decoder that every format carries the same readings.
Called by tools/bench-wire.sh (which builds, starts the broker and generates the traffic)."""
import argparse
import binascii
import json
import os
import subprocess
import sys
import time

MODES = [
    ('json', 'one JSON message per reading', None),
    ('json-batch', 'batched JSON', {'encoding': 'json'}),
    ('cbor-batch', 'batched compact (CBOR)', {'encoding': 'cbor'}),
    ('cbor-zstd', 'batched compact, zstd', {'encoding': 'cbor', 'compression': 'zstd'}),
]


def site(args, mode, batch):
    d = os.path.join(args.work, mode)
    os.makedirs(d, exist_ok=True)
    s = {
        'gateway_id': 'demo-bess-01',
        # No health messages: the figures are the readings' traffic (a health message is ~1.3 kB).
        'broker': {'host': '127.0.0.1', 'port': args.port, 'backoff': {'initial_ms': 100, 'max_ms': 1000},
                   'health_interval_s': 0},
        'outbox': {'path': os.path.join(d, 'outbox.db'),
                   # The demo's 200 ms, on the replay's clock.
                   'commit_interval_ms': max(1, round(200 / args.speed))},
        'stats_interval_s': 3600,
        # Timestamps from the log, so that every run carries the same readings.
        'buses': [{'name': 'bms', 'type': 'candump_replay', 'file': args.log, 'speed': args.speed,
                   'interface': 'can0', 'restamp': False}],
        'mappings': [os.path.join(args.root, 'configs/demo/bms_mapping.json')],
    }
    if batch:
        b = {'max_readings': 1000, 'max_delay_ms': max(1, round(args.delay_ms / args.speed)),
             'group_levels': 2, 'retained': 'batch'}
        b.update(batch)
        s['link'] = {'batch': b}
    path = os.path.join(d, 'site.json')
    with open(path, 'w') as f:
        json.dump(s, f, indent=1)
    return d, path


def stop_fields(log):
    fields = None
    with open(log) as f:
        for line in f:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get('event') == 'gateway.stop':
                fields = j
    if fields is None:
        sys.exit('the gateway did not stop cleanly: see ' + log)
    return fields


def run(args, mode, batch, decode):
    d, path = site(args, mode, batch)
    capture = os.path.join(d, 'capture.txt')
    sub = subprocess.Popen(['mosquitto_sub', '-p', str(args.port), '-t', 'site/#', '-q', '1', '-R', '-F', '%t %x'],
                           stdout=open(capture, 'w'))
    time.sleep(0.5)
    log = os.path.join(d, 'gateway.log')
    with open(log, 'w') as out:
        rc = subprocess.call([args.bin, 'run', '--config', path, '--exit-after', 'drain'], stderr=out, stdout=out)
    if rc != 0:
        sys.exit(f'{mode}: the gateway exited with {rc}: see {log}')
    time.sleep(1.0)
    sub.terminate()
    sub.wait()
    st = stop_fields(log)
    readings = {}
    messages = 0
    with open(capture) as f:
        for line in f:
            topic, _, hexed = line.rstrip('\n').partition(' ')
            messages += 1
            for r in decode(topic, binascii.unhexlify(hexed)):
                if r.get('kind') not in (None, 'reading'):
                    continue
                key = r['seq']
                value = (r['topic'], r['ts_us'], str(r['value']), r.get('unit') or '', r.get('text') or '')
                if key in readings and readings[key] != value:
                    sys.exit(f'{mode}: seq {key} decoded twice with different contents')
                readings[key] = value
    return {'mode': mode, 'acknowledged': st['acknowledged'], 'messages': messages, 'link': st['link'],
            'payload': st['payload_bytes'], 'readings': readings}


def naive_estimate(base):
    """Bytes a naive publisher would put on the wire for the same readings: one MQTT 3.1.1 QoS 1
    PUBLISH per reading of just {"ts","value","unit"[,"text"]} on its topic, its PUBACK, and as many
    TCP/IP headers per message as the one-message-per-reading run measured."""
    link = base['link']
    headers_per_message = (link['segments_sent'] + link['segments_received']) * 52 / base['messages']
    total = 0.0
    for topic, ts_us, value, unit, text in base['readings'].values():
        body = '{"ts":%d.%06d,"value":%s' % (ts_us // 1_000_000, ts_us % 1_000_000, value)
        if unit:
            body += ',"unit":"%s"' % unit
        if text:
            body += ',"text":"%s"' % text
        body += '}'
        remaining = 2 + len(topic.encode()) + 2 + len(body.encode())
        total += 1 + (1 if remaining < 128 else 2) + remaining + 4 + headers_per_message
    return total / len(base['readings'])


def main():
    ap = argparse.ArgumentParser()
    for a in ('--root', '--bin', '--work', '--log'):
        ap.add_argument(a, required=True)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--speed', type=float, default=60)
    ap.add_argument('--delay-ms', type=int, default=10000)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.root, 'tools'))
    from outpost_decode import decode

    results = []
    for mode, label, batch in MODES:
        print(f'== {mode}: {label}', flush=True)
        results.append(run(args, mode, batch, decode))
    base = results[0]
    print()
    print(f'{"format":<12} {"readings":>9} {"messages":>9} {"payload B":>10} {"wire B":>10} '
          f'{"wire B/reading":>15} {"vs json":>8}')
    ok = True
    base_per = base['link']['wire_bytes'] / base['acknowledged']
    for r in results:
        per = r['link']['wire_bytes'] / r['acknowledged']
        print(f'{r["mode"]:<12} {r["acknowledged"]:>9} {r["messages"]:>9} {r["payload"]:>10} '
              f'{r["link"]["wire_bytes"]:>10} {per:>15.2f} {base_per / per:>7.1f}x')
        if r['readings'] != base['readings']:
            missing = set(base['readings']) ^ set(r['readings'])
            differ = sum(1 for k in base['readings'] if k in r['readings'] and r['readings'][k] != base['readings'][k])
            print(f'   {r["mode"]}: decoded readings differ from json: {len(missing)} seqs not in both, {differ} differ')
            ok = False
        if len(r['readings']) != r['acknowledged']:
            print(f'   {r["mode"]}: {len(r["readings"])} distinct readings decoded, {r["acknowledged"]} acknowledged')
            ok = False
    naive = naive_estimate(base)
    print(f'{"naive":<12} {"":>9} {"":>9} {"":>10} {"":>10} {naive:>15.2f}   (estimated: MQTT 3.1.1, '
          f'{{ts,value,unit}} only, headers per message as measured for json)')
    print()
    print('every format decoded to the same', len(base['readings']), 'readings' if ok else '', 'OK' if ok else 'MISMATCH')
    per = {r['mode']: r['link']['wire_bytes'] / r['acknowledged'] for r in results}
    for name, ref in (('json (today)', per['json']), ('naive', naive)):
        print(f'against {name}: batched compact {ref / per["cbor-batch"]:.1f}x smaller (target 4x: '
              f'{"met" if per["cbor-batch"] * 4 <= ref else "NOT met"}), compressed {ref / per["cbor-zstd"]:.1f}x '
              f'(target 8x: {"met" if per["cbor-zstd"] * 8 <= ref else "NOT met"})')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
