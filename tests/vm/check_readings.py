#!/usr/bin/python3
"""Checks what a subscriber received against the readings a log should produce.

  check_readings.py RECEIVED EXPECTED.jsonl GATEWAY FIRST_SEQ
RECEIVED holds `topic payload` lines (mosquitto_sub -v). Reading n of EXPECTED must arrive with
seq FIRST_SEQ + n, on the demo mapping's topic, with the same value. Prints a summary; exits 1 on
any difference.
"""
import json
import sys

received_path, expected_path, gateway, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
by_seq = {}
for line in open(received_path):
    topic, _, payload = line.strip().partition(' ')
    if not topic.startswith('site/'):
        continue
    p = json.loads(payload)
    if p.get('gw') != gateway:
        continue  # another gateway in the same test publishes its own sequence
    by_seq.setdefault(p['seq'], (topic, p))
expected = [json.loads(l) for l in open(expected_path) if l.strip()]
bad = 0
for i, e in enumerate(expected):
    seq = first + i
    if seq not in by_seq:
        print('missing seq %d (%s/%s)' % (seq, e['message'], e['signal']))
        bad += 1
        continue
    topic, p = by_seq[seq]
    section = 'safety' if e['message'] == 'imd' else 'bms/' + e['message']
    want_topic = 'site/%s/%s/%s' % (gateway, section, e['signal'])
    if topic != want_topic or abs(p['value'] - e['value']) > 1e-9 or p['gw'] != gateway:
        print('seq %d: got %s %s, expected %s %s' % (seq, topic, p['value'], want_topic, e['value']))
        bad += 1
print('%d expected readings checked from seq %d: %d wrong or missing' % (len(expected), first, bad))
sys.exit(1 if bad else 0)
