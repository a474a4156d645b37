#!/usr/bin/python3
"""Prints the benchmark table from the per-round results tools/bench.sh collected.

  summary.py RESULTS_DIR READINGS ROUNDS

RESULTS_DIR holds one file per figure and side (ingest.outpost, ingest.bare, drain.outpost, ...),
one value per round. Each figure prints its median and spread (min-max) over the rounds, and the
ratio of the medians against the target.
"""
import os
import statistics
import sys


def values(results, name):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return []
    return [float(line) for line in open(path) if line.strip() and line.strip() != 'None']


def cell(vs, fmt):
    if not vs:
        return '-', '-'
    return fmt % statistics.median(vs), (fmt + '-' + fmt) % (min(vs), max(vs))


def main():
    results, n, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
    print('\n%-40s %10s %17s %10s %17s %7s  %-8s' % ('figure (%s readings, %s rounds)' % (n, rounds), 'outpost',
                                                   'spread', 'bare', 'spread', 'ratio', 'target'))

    def row(name, key, fmt, target=None, below=None):
        o, b = values(results, key + '.outpost'), values(results, key + '.bare')
        om, os_ = cell(o, fmt)
        bm, bs = cell(b, fmt)
        ratio, verdict = '-', ''
        if o and b:
            r = statistics.median(o) / statistics.median(b)
            ratio = '%.2fx' % r
            verdict = 'ok' if r >= target else 'BELOW TARGET'
        elif o and below is not None:
            verdict = 'ok' if statistics.median(o) < below else 'ABOVE TARGET'
        tgt = ('>= %.1fx' % target) if target is not None else ('< %g' % below if below is not None else '')
        print('%-40s %10s %17s %10s %17s %7s  %-8s %s' % (name, om, os_, bm, bs, ratio, tgt, verdict))
        return o

    row('durable ingest, readings/s', 'ingest', '%.0f', target=0.5)
    row('drain of the backlog at QoS 1, msgs/s', 'drain', '%.0f', target=0.8)
    row('exec to first publish (clean stop), ms', 'first', '%.0f', below=500)
    rss = {k: values(results, 'rss.' + k) for k in ('ingest', 'drain', 'bare_ingest', 'bare_drain')}
    print('%-40s %s' % ('max RSS over the rounds, MB', '  '.join(
        '%s %.1f' % (k.replace('_', ' '), max(v) / 1024) for k, v in rss.items() if v)))
    print('\nper round (outpost / bare):')
    for key in ('ingest', 'drain'):
        print('  %-6s %s' % (key, '  '.join('%.0f/%.0f' % p for p in zip(values(results, key + '.outpost'),
                                                                             values(results, key + '.bare')))))


if __name__ == '__main__':
    main()
