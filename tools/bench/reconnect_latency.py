#!/usr/bin/python3
"""Reconnect latency with the site's backoff settings (the defaults unless given): how long after a
broker comes back does a gateway that lost it connect again?

Each run is its own mosquitto and its own `outpost run` (a site with no live bus); the broker is
stopped once the gateway is connected, kept away for OUTAGE seconds, started again, and the time from
its port accepting connections to the gateway's next `uplink.connected` log line is the latency.
All runs of one outage length go in parallel (they only sleep); run by tools/bench-reconnect.sh.
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


def connected_times(log_path):
    """Wall-clock times (s) of the gateway's uplink.connected lines so far."""
    out = []
    try:
        with open(log_path) as f:
            for line in f:
                if '"uplink.connected"' not in line:
                    continue
                ts = json.loads(line)['ts']
                out.append(datetime.datetime.strptime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')
                           .replace(tzinfo=datetime.timezone.utc).timestamp())
    except FileNotFoundError:
        pass
    return out


def one_run(binary, repo, outage, work, index, results, broker_extra):
    d = os.path.join(work, f'run-{outage}-{index}')
    os.makedirs(d)
    port = free_port()
    conf = os.path.join(d, 'mosquitto.conf')
    with open(conf, 'w') as f:
        f.write(f'listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n')
    site = os.path.join(d, 'site.json')
    broker = {'host': '127.0.0.1', 'port': port, 'health_interval_s': 0}
    broker.update(broker_extra)
    with open(site, 'w') as f:
        json.dump({'gateway_id': f'latency-{index}', 'broker': broker,
                   'outbox': {'path': os.path.join(d, 'outbox.db')},
                   'buses': [{'name': 'bms', 'type': 'candump_replay', 'enabled': False, 'file': '-'}],
                   'mappings': [os.path.join(repo, 'configs/demo/bms_mapping.json')]}, f)
    log = os.path.join(d, 'outpost.log')
    procs = []
    try:
        mq = subprocess.Popen(['mosquitto', '-c', conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(mq)
        while not accepts(port):
            time.sleep(0.02)
        gw = subprocess.Popen([binary, 'run', '--config', site], stdout=subprocess.DEVNULL,
                              stderr=open(log, 'w'))
        procs.append(gw)
        deadline = time.time() + 30
        while not connected_times(log):
            if time.time() > deadline:
                raise RuntimeError('the gateway did not connect')
            time.sleep(0.05)
        mq.terminate()
        mq.wait()
        time.sleep(outage)
        mq = subprocess.Popen(['mosquitto', '-c', conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(mq)
        while not accepts(port):
            time.sleep(0.005)
        back = time.time()
        deadline = back + 300
        while len(connected_times(log)) < 2:
            if time.time() > deadline:
                raise RuntimeError('the gateway did not reconnect within 300 s')
            time.sleep(0.05)
        results.append(connected_times(log)[1] - back)
    except Exception as e:  # reported, the other runs go on
        print(f'run {index} (outage {outage} s): {e}', file=sys.stderr)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    ap.add_argument('--repo', required=True)
    ap.add_argument('--outage', type=float, action='append', required=True, help='seconds; repeatable')
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--broker-json', default='{}', help='extra site "broker" keys, e.g. a backoff to compare')
    args = ap.parse_args()
    args.repo = os.path.abspath(args.repo)
    args.bin = os.path.abspath(args.bin)
    extra = json.loads(args.broker_json)
    with tempfile.TemporaryDirectory(prefix='outpost-reconnect.') as work:
        for outage in args.outage:
            results = []
            threads = [threading.Thread(target=one_run, args=(args.bin, args.repo, outage, work, i, results, extra))
                       for i in range(args.runs)]
            for t in threads:
                t.start()
                time.sleep(0.05)
            for t in threads:
                t.join()
            if not results:
                print(f'outage {outage:g} s: no run completed')
                continue
            results.sort()
            print(f'outage {outage:g} s, {len(results)} runs: broker back -> gateway connected '
                  f'median {statistics.median(results):.2f} s, worst {results[-1]:.2f} s, best {results[0]:.2f} s '
                  f'(all: {" ".join(f"{r:.2f}" for r in results)})')


if __name__ == '__main__':
    main()
