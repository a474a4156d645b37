#!/usr/bin/python3
"""The summary of tools/bench-saturated.sh over its rounds: for each mode, the median of the
per-run drain ratios (each one saturated against alone in the same run) with their spread, the
worst committed/offered, eviction lines a second and RSS, each against its target.

    saturated_summary.py WORK ROUNDS     (reads WORK/free-N.result.json and WORK/quota-N.result.json)
"""
import json
import os
import statistics
import sys


def load(work, name, rounds):
    out = []
    for r in range(1, rounds + 1):
        path = os.path.join(work, '%s-%d.result.json' % (name, r))
        if os.path.exists(path):
            with open(path) as f:
                out.append(json.load(f))
    return out


def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return '-', None
    med = statistics.median(values)
    return '%s (%s-%s)' % (fmt % med, fmt % min(values), fmt % max(values)), med


def main():
    work, rounds = sys.argv[1], int(sys.argv[2])
    modes = [(name, title, load(work, name, rounds))
             for name, title in (('free', 'no quota'), ('quota', 'quota reached'))]
    modes = [m for m in modes if m[2]]
    if not modes:
        print('no results', file=sys.stderr)
        return 1
    print('\n== summary over %d round(s): median (min-max)' % rounds)
    width = 40
    print('%-*s' % (width, '') + ''.join('%-38s' % title for _, title, _ in modes))

    def row(label, cells):
        print('%-*s' % (width, label) + ''.join('%-38s' % c for c in cells))

    failed = False
    ratios = []
    for _, _, results in modes:
        text, med = spread([r['drain_ratio'] for r in results], '%.2fx')
        ok = med is not None and med >= 0.8
        failed |= not ok
        ratios.append('%s %s' % (text, 'ok' if ok else 'BELOW 0.8x'))
    row('drain ratio (saturated / alone)', ratios)
    row('  each round', [' / '.join('%.2f' % r['drain_ratio'] if r['drain_ratio'] else '-' for r in results)
                         for _, _, results in modes])
    row('acknowledged saturated, msgs/s', [spread([r['acked_per_s_saturated'] for r in results], '%.0f')[0]
                                           for _, _, results in modes])
    row('acknowledged alone, msgs/s', [spread([r['acked_per_s_alone'] for r in results], '%.0f')[0]
                                       for _, _, results in modes])
    cells = []
    for _, _, results in modes:
        worst = min((r['committed_vs_offered'] or 0) for r in results)
        failed |= worst < 0.99
        cells.append('%s, worst %.3f %s' % (spread([r['committed_vs_offered'] for r in results], '%.3f')[0], worst,
                                            'ok' if worst >= 0.99 else 'BELOW 0.99'))
    row('committed / offered', cells)
    cells = []
    for name, _, results in modes:
        rates = [r['evicted_lines_per_s'] or 0 for r in results]
        if name == 'quota':
            failed |= max(rates) > 1
            cells.append('%.2f a second at most %s' % (max(rates), 'ok' if max(rates) <= 1 else 'ABOVE 1'))
        else:
            cells.append('%.2f a second at most' % max(rates))
    row('outbox.evicted lines', cells)
    row('CPU of the broker, saturated / alone',
        ['%s / %s' % (spread([r['cpu_broker_saturated'] for r in results], '%.2f')[0],
                      spread([r['cpu_broker_alone'] for r in results], '%.2f')[0]) for _, _, results in modes])
    cells = []
    for _, _, results in modes:
        rss = max(r['max_rss_mb'] for r in results)
        failed |= rss > 16
        cells.append('%.1f MB at most %s' % (rss, 'ok' if rss <= 16 else 'ABOVE 16'))
    row('max RSS', cells)
    print('targets: median ratio >= 0.8x, committed >= 0.99 of offered in every run, <= 1 eviction line a '
          'second, RSS <= 16 MB: %s' % ('met' if not failed else 'NOT met'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
