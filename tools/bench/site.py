#!/usr/bin/python3
"""Writes a site configuration for the benchmark scripts.

  site.py --root REPO --out SITE.json --port P --outbox DB [--bus NAME:LOG[:SPEED]]... [--disabled]
          [--mapping FILE] [--max-rows N] [--max-bytes N] [--window N] [--stats-interval S] [--link JSON]

A bus is a candump_replay of LOG at SPEED ("max" or a factor, 1 = as recorded). Without --bus the
site has one disabled replay bus named "bms" (the demo mapping names it), so the gateway only drains.
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--outbox', required=True)
    ap.add_argument('--bus', action='append', default=[])
    ap.add_argument('--disabled', action='store_true', help='the buses are listed but not read')
    ap.add_argument('--mapping')
    ap.add_argument('--max-rows', type=int, default=10_000_000)
    ap.add_argument('--max-bytes', type=int, default=8 << 30)
    ap.add_argument('--window', type=int, default=256)
    ap.add_argument('--stats-interval', type=int, default=1)
    ap.add_argument('--link', help='the site\'s "link" section, as JSON (batching, pacing, budgets)')
    args = ap.parse_args()
    buses = []
    for spec in args.bus or ['bms:/dev/null:max']:
        name, log, *rest = spec.split(':')
        speed = rest[0] if rest else 'max'
        buses.append({'name': name, 'type': 'candump_replay', 'file': log,
                      'speed': speed if speed == 'max' else float(speed),
                      'enabled': bool(args.bus) and not args.disabled})
    site = {
        'gateway_id': 'bench-gw',
        'broker': {'host': '127.0.0.1', 'port': args.port, 'backoff': {'initial_ms': 100, 'max_ms': 1000},
                   'inflight_window': args.window},
        'outbox': {'path': args.outbox, 'max_rows': args.max_rows, 'max_bytes': args.max_bytes,
                   'commit_batch': 2000, 'commit_interval_ms': 200},
        'stats_interval_s': args.stats_interval,
        'buses': buses,
        'mappings': [args.mapping or args.root + '/configs/demo/bms_mapping.json'],
    }
    if args.link:
        site['link'] = json.loads(args.link)
    with open(args.out, 'w') as f:
        json.dump(site, f, indent=1)


if __name__ == '__main__':
    main()
