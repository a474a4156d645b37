#!/usr/bin/python3
"""The 4G link (issue 11's acceptance) against the real binary, a real mosquitto and mosquitto_sub.

Each check is a ctest test of its own (tests/integration/link_tests.cmake):

  live_first     100,001 readings stored while no broker listens; then the broker comes up behind a link
                 capped at 128 kbit/s each way (tc in a network namespace of the test's own: `unshare -n`),
                 and the gateway runs with live-first batching while a second log replays live for 30 s.
                 Live readings of priority 8 must arrive within the bound that follows from the configured
                 numbers (max_delay_ms + commit_interval_ms + one round trip + what may be in flight ahead
                 of them at the capped rate), live readings of priority 5 within the same bound once the
                 stored readings of higher priorities are through (priority 9 first, down to 0: live-first
                 only puts live readings before the backlog of their own priority), while the backlog is
                 still draining; at the end every seq has arrived.
  budget         a daily byte budget smaller than the traffic: after `uplink.budget_hold`, no reading of
                 priority < 8 created after the hold arrives, priority-8 readings and loss records keep
                 arriving, the held readings expire (TTL 5 s) with loss records, `outpost audit` exits 0,
                 and the link counters of the stop line agree (day_bytes >= 90% of the budget).
  ttl            readings stored while the broker is down and older than their priority's TTL when it
                 comes back are never sent, exactly those are counted as expired (stop line and /metrics
                 by priority) and covered by `expired_ttl` loss records; priorities without TTL all arrive.
  kill9_batched  batching with zstd on: the gateway SIGKILLed 10 times at random moments and restarted on
                 the same outbox, the broker restarted (SIGTERM) twice; every seq the gateway committed
                 arrives, duplicates are counted and bounded, `outpost audit` exits 0.
  budget_drain   `--exit-after drain` under a budget hold: once the held readings have expired and been
                 swept, the outbox is empty, and the gateway stops by itself.

The loss records of expired readings are published once they have settled, two loss windows after they
were written (app/src/loss_reporter.cpp), and the outbox sweeps held readings a grace period after their
TTL ran out (outbox/src/outbox_removal.cpp). Both are 60 s by default; these sites set `outbox.loss_window_s` and
`outbox.expiry_grace_s` to LOSS_WINDOW and EXPIRY_GRACE (10 s), so that `budget` takes about 1.5 minutes,
`ttl` about 1 and `budget_drain` about 1.

Usage: link_budget.py CHECK OUTPOST_BINARY. Exit 0 pass, 1 fail, 77 skip (the reason on stdout).
OUTPOST_KEEP_WORK=1 keeps the work directory of a failed check; OUTPOST_LINK_SEED sets kill9's schedule.
"""
import importlib.util
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tools', 'faults'))
sys.path.insert(0, os.path.join(REPO, 'tools'))
import lib  # noqa: E402  (Proc, Subscriber, free_port, wait_until, log_events, outbox_stats, make_log, key)
import outpost_decode  # noqa: E402  (the reference decoder)
from check_support import SKIP, Failure, Skip, audit, listening, run_check, say  # noqa: E402  (beside this script)

GW = 'link-gw'
STATUS_TOPIC = 'outpost/' + GW
MAPPING = os.path.join(REPO, 'configs', 'demo', 'bms_mapping.json')
NETNS_ENV = 'OUTPOST_LINK_IN_NETNS'


def signal_priorities():
    """Signal name (a reading topic's last level) -> priority, from the demo mapping."""
    with open(MAPPING) as f:
        m = json.load(f)
    default = m.get('defaults', {}).get('priority', 5)
    out = {}
    for message in m['can']:
        for s in message['signals']:
            out[s['name']] = s.get('priority', message.get('priority', default))
    return out


PRIORITY = signal_priorities()


def utc_seconds(text):
    """A log line's ISO 8601 UTC time as seconds since the epoch."""
    return datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp()


def pct(values, q):
    """Nearest-rank percentile."""
    if not values:
        return float('nan')
    s = sorted(values)
    return s[min(len(s), max(1, math.ceil(q / 100.0 * len(s)))) - 1]


def describe(values):
    if not values:
        return 'none'
    return 'n %d, median %.3f s, p95 %.3f s, max %.3f s' % (len(values), statistics.median(values),
                                                          pct(values, 95), max(values))


# ---------------------------------------------------------------------------------------------
# Processes: broker, subscriber, gateway.

class Broker:
    """mosquitto on loopback with one listener per port; persistence (saved at a clean stop) on request.
    Probes (pub) go through the first port."""

    def __init__(self, work, ports, persistent=False, name='mosquitto'):
        self.work = work
        self.ports = list(ports)
        self.conf = os.path.join(work, name + '.conf')
        self.log = os.path.join(work, name + '.log')
        lines = ['listener %d 127.0.0.1' % p for p in self.ports]
        lines += ['allow_anonymous true', 'user root', 'max_queued_messages 0']
        if persistent:
            lines += ['persistence true', 'persistence_location %s/' % work, 'autosave_interval 0']
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        self.proc = None

    def start(self):
        self.proc = lib.Proc(['mosquitto', '-c', self.conf], self.log)
        if not lib.wait_until(20, lambda: all(listening(p) for p in self.ports) or not self.proc.alive(), 0.05) \
                or not self.proc.alive():
            raise Failure('mosquitto did not start:\n' + tail(self.log))

    def stop(self):
        """SIGTERM: mosquitto saves its database on a clean exit."""
        if self.proc:
            rc = self.proc.stop(30)
            self.proc = None
            return rc
        return None

    def pub(self, topic, payload):
        return subprocess.call(['mosquitto_pub', '-h', '127.0.0.1', '-p', str(self.ports[0]), '-q', '1', '-t', topic,
                                '-m', payload], stderr=subprocess.DEVNULL, timeout=15) == 0


class MosquittoSub(lib.Proc):
    """mosquitto_sub as a child: its messages on stdout, its complaints in a file of their own."""

    def __init__(self, argv, out, err):
        self.log_path = out
        self.log = open(out, 'ab')
        self.err = open(err, 'ab')
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=self.err, stdin=subprocess.DEVNULL,
                                  start_new_session=True)

    def stop(self, timeout=10):
        rc = super().stop(timeout)
        self.err.close()
        return rc


class Subscriber(lib.Subscriber):
    """mosquitto_sub, QoS 1, every topic the gateway publishes on plus probe/#, one `%U %t %x` line per
    message (receive time, topic, payload in hex) in `path`. sync(broker) is the fault suite's: a probe
    published through the broker has arrived, so has everything the broker had before it."""

    def __init__(self, work, port, client_id=None, name='sub'):
        self.port = port
        self.path = os.path.join(work, name + '.txt')
        self.err_path = os.path.join(work, name + '.err')
        argv = ['mosquitto_sub', '-h', '127.0.0.1', '-p', str(port), '-q', '1', '-t', 'site/#', '-t', 'outpost/#',
                '-t', 'probe/#', '-F', '%U %t %x']
        if client_id:
            argv += ['-c', '-i', client_id]  # a persistent session: the broker queues while it is away
        self.proc = MosquittoSub(argv, self.path, self.err_path)
        self.probes = 0

    def _has(self, tag):
        try:
            with open(self.path, errors='replace') as f:
                return any(line.split(' ', 2)[1:2] == [tag] for line in f)
        except OSError:
            return False


class Rig:
    """The broker and the processes of a check (subscriber, gateways), stopped in reverse order however the
    check ends, the broker last."""

    def __init__(self, broker):
        self.broker = broker
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.stop()
        self.broker.stop()

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def subscriber(self, work, port, client_id=None):
        """A subscriber that has received a probe through the broker."""
        sub = self.add(Subscriber(work, port, client_id))
        if not sub.sync(self.broker):
            raise Failure('the subscriber receives nothing:\n' + tail(sub.err_path))
        return sub

    def finish(self, sub):
        """Everything the broker had has reached the subscriber, which then stops."""
        if not sub.sync(self.broker):
            raise Failure('the final probe never reached the subscriber')
        sub.stop()


def tail(path, chars=4000):
    try:
        with open(path, errors='replace') as f:
            return f.read()[-chars:]
    except OSError:
        return '(no %s)' % path


def gen_log(work, name, *args):
    path = os.path.join(work, name)
    subprocess.check_call([lib.PY, os.path.join(REPO, 'tools', 'gen_bms_log.py'), '--out', path] + list(args))
    return path


def bus(path, speed, restamp):
    return {'name': 'bms', 'type': 'candump_replay', 'file': path, 'speed': speed, 'restamp': restamp}


def write_site(work, name, port, buses, link=None, outbox=None, broker=None, http=False):
    site = {'gateway_id': GW,
            'broker': dict({'host': '127.0.0.1', 'port': port, 'client_id': GW,
                            'backoff': {'initial_ms': 100, 'max_ms': 1000}, 'connect_timeout_ms': 2000},
                           **(broker or {})),
            'outbox': dict({'path': os.path.join(work, 'outbox', 'outbox.db'), 'commit_interval_ms': 200},
                           **(outbox or {})),
            'stats_interval_s': 5,
            'buses': buses,
            'mappings': [MAPPING]}
    if link is not None:
        site['link'] = link
    if http:
        site['http'] = {'address': '127.0.0.1', 'port': 0}
    path = os.path.join(work, name)
    with open(path, 'w') as f:
        json.dump(site, f, indent=1)
    return path, site


def replay_done(gw, glog, seconds):
    """When the replay ended (the replay.done line), the gateway still running."""
    if not lib.wait_until(seconds, lambda: lib.log_events(glog, ('replay.done',)) or not gw.alive(), 0.2):
        raise Failure('the replay did not end within %d s:\n%s' % (seconds, tail(glog)))
    done = lib.log_events(glog, ('replay.done',))
    if not done:
        raise Failure('the gateway exited before the replay ended (rc %s):\n%s' % (gw.wait(1), tail(glog)))
    return utc_seconds(done[0]['ts'])


def stop_gateway(gw, glog):
    rc = gw.stop(30)
    if rc != 0:
        raise Failure('outpost run exited %s on SIGTERM:\n%s' % (rc, tail(glog)))


def check_decoded(got, problems):
    if got.malformed:
        problems.append('%d payloads the reference decoder refuses: %s' % (len(got.malformed), got.malformed[:3]))


def check_loss_topics(got, problems):
    elsewhere = sorted({l['topic'] for l in got.losses} - {STATUS_TOPIC + '/loss'})
    if elsewhere:
        problems.append('loss records on topics other than %s/loss: %s' % (STATUS_TOPIC, elsewhere))


def conclude(outpost, sub, work, problems):
    """`outpost audit` over the whole capture must exit 0; then every problem found fails the check."""
    rc, _ = audit_capture(outpost, sub.path, work)
    if rc != 0:
        problems.append('outpost audit exited %d' % rc)
    if problems:
        raise Failure('; '.join(problems))


def stop_line(log):
    events = lib.log_events(log, ('gateway.stop',))
    if not events:
        raise Failure('no gateway.stop line in %s:\n%s' % (log, tail(log)))
    return events[-1]


def outbox_stats(outpost, site):
    stats = lib.outbox_stats(outpost, site)
    if 'error' in stats:
        raise Failure('outpost outbox stats: %s' % stats)
    return stats


# ---------------------------------------------------------------------------------------------
# What arrived.

class Received:
    """The subscriber's capture decoded with tools/outpost_decode.py: every reading with its receive
    time and priority, the loss records, and the size of the largest batch."""

    def __init__(self, path):
        self.readings = []   # dicts from outpost_decode plus recv (receive time), prio and ts (seconds)
        self.losses = []     # loss records (their dict) plus recv
        self.messages = 0
        self.batches = 0
        self.max_message = 0  # largest topic + payload of a batch message
        self.malformed = []
        self.lines = []      # capture lines without the probes, for outpost audit
        with open(path, errors='replace') as f:
            for line in f:
                parts = line.rstrip('\n').split(' ', 2)
                if len(parts) < 2 or parts[1].startswith('probe/'):
                    continue
                self.lines.append(line if line.endswith('\n') else line + '\n')
                try:
                    recv = float(parts[0])
                    payload = bytes.fromhex(parts[2] if len(parts) > 2 else '')
                except ValueError:
                    self.malformed.append(line[:200])
                    continue
                if not payload:
                    continue  # a retained message cleared
                self.messages += 1
                topic = parts[1]
                try:
                    items = outpost_decode.decode(topic, payload)
                except outpost_decode.DecodeError as e:
                    self.malformed.append('%s: %s' % (topic, e))
                    continue
                is_batch = len(items) > 0 and 'kind' not in items[0] and items[0]['topic'] != topic
                if is_batch:
                    self.batches += 1
                    self.max_message = max(self.max_message, len(topic) + len(payload))
                for item in items:
                    if item.get('kind') == 'loss':
                        self.losses.append(dict(item, recv=recv))
                    elif 'kind' not in item:
                        signal_name = item['topic'].rsplit('/', 1)[-1]
                        item['recv'] = recv
                        item['prio'] = PRIORITY.get(signal_name, -1)
                        item['ts'] = item['ts_us'] / 1e6
                        self.readings.append(item)

    def seqs(self):
        """Every (ep, seq) received: readings and loss records."""
        out = {(r['ep'], r['seq']) for r in self.readings}
        out.update((l['ep'], l['seq']) for l in self.losses if 'seq' in l)
        return out

    def loss_ranges(self, reason=None):
        return [(l['loss']['first_seq'], l['loss']['last_seq'], l['loss'].get('count'), l['loss'].get('priority'),
                 l['loss'].get('reason')) for l in self.losses if reason is None or l['loss'].get('reason') == reason]

    def write_capture(self, path):
        with open(path, 'w') as f:
            f.writelines(self.lines)
        return path


def audit_capture(outpost, capture_path, work):
    """`outpost audit` over the capture, probes left out: its exit code and this gateway's report."""
    clean = Received(capture_path).write_capture(os.path.join(work, 'audit-capture.txt'))
    rc, g = audit(outpost, clean, work, GW, hex_payloads=True)
    say('  outpost audit: exit %d; readings %s, distinct %s, duplicates %s, missing %s, unexplained %s, '
        'loss records %s, malformed %s' % (rc, g.get('readings'), g.get('distinct_readings'), g.get('duplicates'),
                                           g.get('missing'), g.get('unexplained_missing'), g.get('loss_records'),
                                           g.get('malformed')))
    return rc, g


def uncovered(numbers, received, ranges):
    """The numbers in `numbers` neither received nor inside one of `ranges` [(first, last, ...)]."""
    spans = sorted((r[0], r[1]) for r in ranges)
    out = []
    for n in sorted(numbers):
        if n in received:
            continue
        if not any(a <= n <= b for a, b in spans):
            out.append(n)
    return out


def ranges_text(numbers, limit=12):
    numbers = sorted(numbers)
    spans = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = ', '.join('%d' % a if a == b else '%d-%d' % (a, b) for a, b in spans[:limit])
    return text + (' ... (%d ranges)' % len(spans) if len(spans) > limit else '')


# ---------------------------------------------------------------------------------------------
# live_first: a capped link in a network namespace of our own.

LIVE_RATE_KBIT = 128
LIVE_SECONDS = 30
BACKLOG_FRAMES = 27273  # 11 readings per 3 frames: 100,001 readings
MTU = 1500
TCP_IP_HEADERS = 52     # IPv4 + TCP with timestamps, per segment (uplink/link_meter.hpp)


def run_quiet(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def enter_netns(argv):
    """Re-runs this script inside `unshare -n` (a fresh network namespace: only lo, ours alone)."""
    if os.environ.get(NETNS_ENV):
        return
    if not shutil.which('unshare'):
        raise Skip('unshare (util-linux) is not installed: the link cap needs a network namespace')
    probe = run_quiet(['unshare', '-n', 'true'])
    if probe.returncode != 0:
        raise Skip('cannot make a network namespace (unshare -n): %s' % (probe.stderr.strip() or probe.returncode))
    for tool in ('ip', 'tc'):
        if not shutil.which(tool):
            raise Skip('%s (iproute2) is not installed: the link cap needs it' % tool)
    env = dict(os.environ, **{NETNS_ENV: '1'})
    sys.stdout.flush()
    os.execve(shutil.which('unshare'), ['unshare', '-n', '--', lib.PY, os.path.abspath(__file__)] + argv, env)


def run_steps(steps):
    for argv in steps:
        r = run_quiet(argv)
        if r.returncode != 0:
            raise Skip('cannot shape the link here (%s): %s' % (' '.join(argv), r.stderr.strip()))


def link_up():
    """Inside our namespace: lo up, with a 1500-byte MTU like a real link's."""
    run_steps([['ip', 'link', 'set', 'lo', 'up'], ['ip', 'link', 'set', 'lo', 'mtu', str(MTU)]])


def shape(port, rate_kbit):
    """Everything to and from `port` through a token bucket of `rate_kbit` each way (an htb root with two
    tbf leaves picked by u32 filters on the port); the rest of lo (the subscriber's own connection)
    unshaped."""
    run_quiet(['tc', 'qdisc', 'del', 'dev', 'lo', 'root'])  # a second run of the check in this namespace
    run_steps([
        ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '1000'],
        ['tc', 'class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit'],
        ['tc', 'class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '10gbit'],
        ['tc', 'class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:30', 'htb', 'rate', '10gbit'],
        ['tc', 'qdisc', 'add', 'dev', 'lo', 'parent', '1:20', 'handle', '20:', 'tbf', 'rate', '%dkbit' % rate_kbit,
         'burst', '16kb', 'limit', '1mb'],
        ['tc', 'qdisc', 'add', 'dev', 'lo', 'parent', '1:30', 'handle', '30:', 'tbf', 'rate', '%dkbit' % rate_kbit,
         'burst', '16kb', 'limit', '1mb'],
        ['tc', 'filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip',
         'dport', str(port), '0xffff', 'flowid', '1:20'],
        ['tc', 'filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip',
         'sport', str(port), '0xffff', 'flowid', '1:30'],
    ])


def tc_counters():
    """Bytes and packets through the two tbf leaves (uplink, downlink), and their drops."""
    r = run_quiet(['tc', '-s', 'qdisc', 'show', 'dev', 'lo'])
    out = {}
    for m in re.finditer(r'qdisc tbf (\d+): .*?\n\s*Sent (\d+) bytes (\d+) pkt \(dropped (\d+)', r.stdout):
        out[{'20': 'up', '30': 'down'}.get(m.group(1), m.group(1))] = {
            'bytes': int(m.group(2)), 'packets': int(m.group(3)), 'dropped': int(m.group(4))}
    return out


def handshake(port):
    """One TCP handshake with the broker port: the SYN goes up the capped link behind whatever is queued
    there, the SYN-ACK comes down. Its duration is the link's round trip at that moment."""
    t = time.monotonic()
    socket.create_connection(('127.0.0.1', port), 60).close()
    return time.monotonic() - t


class RoundTrips(threading.Thread):
    """Measures the round trip of the capped link twice a second while the gateway drains."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.samples = []  # (wall time, seconds)
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.samples.append((time.time(), handshake(self.port)))
            except OSError:
                pass
            self.done.wait(0.5)

    def stop(self):
        self.done.set()
        self.join(90)


def check_live_first(outpost, work):
    link_up()
    gw_port, sub_port = lib.free_port(), lib.free_port()
    while sub_port == gw_port:
        sub_port = lib.free_port()
    shape(gw_port, LIVE_RATE_KBIT)
    rate = LIVE_RATE_KBIT * 1000 / 8.0  # bytes a second
    say('link: lo in a namespace of our own, MTU %d, %d kbit/s each way to and from the broker port %d; the '
        'subscriber on port %d unshaped' % (MTU, LIVE_RATE_KBIT, gw_port, sub_port))

    # 1. The backlog, stored while no broker listens.
    backlog_log = gen_log(work, 'backlog.log', '--fast', '--frames', str(BACKLOG_FRAMES))
    live_log = gen_log(work, 'live.log', '--seconds', str(LIVE_SECONDS))
    site1, _ = write_site(work, 'store.json', gw_port, [bus(backlog_log, 'max', False)])
    glog1 = os.path.join(work, 'gateway-store.log')
    rc = lib.gateway(outpost, site1, glog1, 'ingest').wait(120)
    if rc != 0:
        raise Failure('storing the backlog: outpost run exited %s\n%s' % (rc, tail(glog1)))
    stats = outbox_stats(outpost, site1)
    backlog = stats['rows']
    by_prio = stats.get('rows_by_priority')
    say('stored while no broker listened: %d readings (by priority 0..9: %s), next_seq %d' %
        (backlog, by_prio, stats['next_seq']))
    if backlog < 100000:
        raise Failure('the backlog holds %d readings, not 100,000' % backlog)

    # 2. The broker comes up; the gateway drains the backlog while a live bus replays at its own pace.
    rtts = RoundTrips(gw_port)
    with Rig(Broker(work, [sub_port, gw_port])) as rig:
        rig.broker.start()
        rtt_idle = max(handshake(gw_port) for _ in range(5))
        sub = rig.subscriber(work, sub_port)
        batch = {'encoding': 'cbor', 'max_delay_ms': 1000, 'group_levels': 2, 'retained': 'batch',
                 'unbatched_from_priority': 9}
        commit_ms = 200
        site2, _ = write_site(work, 'live.json', gw_port, [bus(live_log, 1.0, True)],
                              link={'live_first': True, 'batch': batch}, outbox={'commit_interval_ms': commit_ms})
        glog = os.path.join(work, 'gateway.log')
        window_start = time.time()
        gw = rig.add(lib.gateway(outpost, site2, glog, 'drain'))
        rtts.start()
        try:
            window_end = replay_done(gw, glog, LIVE_SECONDS + 60)
        finally:
            rtts.stop()
        say('live window: %.1f s (the live replay, speed 1.0, readings restamped)' % (window_end - window_start))
        rc = gw.wait(300)
        if rc is None:
            raise Failure('the gateway did not drain within 300 s after the live window:\n%s' % tail(glog))
        if rc != 0:
            raise Failure('outpost run exited %d:\n%s' % (rc, tail(glog)))
        rig.finish(sub)
        shaped = tc_counters()

    stop = stop_line(glog)
    link = stop.get('link', {})
    got = Received(sub.path)
    # Live: accepted after the CONNACK (link.live_first: "after a reconnect, new readings go before the
    # stored backlog"); what the live bus read before it is backlog too. The log's times have milliseconds.
    connected = utc_seconds(lib.log_events(glog, ('uplink.connected',))[0]['ts'])
    live = [r for r in got.readings if r['ts'] > connected + 0.001]
    early = [r for r in got.readings if window_start - 1 <= r['ts'] <= connected + 0.001]
    old = [r for r in got.readings if r['ts'] < window_start - 1]
    say('connected %.3f s into the live window; %d readings of the live bus were taken before (the backlog, '
        'by the contract: their latency is not checked)' % (connected - window_start, len(early)))
    say('received: %d messages (%d batches, the largest %d bytes), %d readings: %d live, %d from the backlog; '
        '%d loss records; %d malformed' % (got.messages, got.batches, got.max_message, len(got.readings), len(live),
                                           len(old), len(got.losses), len(got.malformed)))

    # The bound from the configured numbers. A live reading is committed within commit_interval_ms and
    # waits at most max_delay_ms in its batch; the batch goes when an acknowledgement leaves room under
    # max_inflight_bytes, and then queues behind what is in flight: at most max_inflight_bytes less one
    # byte plus the message that crossed the limit ("at least one message goes"), then itself (the
    # largest batch received stands for either), every byte at the capped rate with TCP/IP headers per
    # segment. The acknowledgement that leaves room takes one round trip, and on a capped link the round
    # trip is what waits in its queue (the broker's TCP sends its PUBACKs as the gateway's ACKs come back,
    # and those wait behind the gateway's data): at most what may be in flight, so one round trip is the
    # idle round trip plus (max_inflight_bytes + one batch) at the capped rate.
    inflight = 65536  # link.max_inflight_bytes, the default
    mss = MTU - TCP_IP_HEADERS
    wire = (mss + TCP_IP_HEADERS) / float(mss)
    largest = got.max_message
    rtt = rtt_idle + (inflight + largest) * wire / rate
    queued = (inflight + 2 * largest) * wire / rate
    max_delay, commit = batch['max_delay_ms'] / 1000.0, commit_ms / 1000.0
    bound = max_delay + commit + rtt + queued
    measured_rtt = [d for t, d in rtts.samples if window_start <= t <= window_end]
    say('round trip of the capped link: idle %.4f s; during the live window %s (at most %.3f s by the '
        'in-flight limit)' % (rtt_idle, describe(measured_rtt), rtt))
    say('bound: max_delay %.3f s + commit interval %.3f s + one round trip %.3f s + (in flight %d B + 2 x '
        'largest batch %d B) x %.3f (TCP/IP headers) / %.0f B/s (%.3f s) = %.3f s' %
        (max_delay, commit, rtt, inflight, largest, wire, rate, queued, bound))

    problems = []
    check_decoded(got, problems)
    if measured_rtt and max(measured_rtt) > rtt:
        problems.append('the capped link queued more than the in-flight limit allows: a round trip of %.3f s '
                        '(at most %.3f s)' % (max(measured_rtt), rtt))
    lat = {}
    for r in live:
        lat.setdefault(r['prio'], []).append(r['recv'] - r['ts'])
    for p in sorted(lat, reverse=True):
        say('  live priority %d: latency %s' % (p, describe(lat[p])))
    lat8 = lat.get(8, [])
    if not lat8:
        problems.append('no live priority-8 reading arrived')
    elif max(lat8) > bound:
        late = sorted((r['recv'] - r['ts'], r['seq'], r['ts'] - window_start) for r in live
                      if r['prio'] == 8 and r['recv'] - r['ts'] > bound)
        problems.append('%d of %d live priority-8 readings later than the bound %.3f s: %s' % (
            len(late), len(lat8), bound, ', '.join('seq %d taken at %.2f s: %.3f s' % (seq, at, l)
                                                   for l, seq, at in late[-6:])))

    # Priority 5: behind the stored readings of higher priorities (delivery order), then the same bound.
    higher = [r for r in old + early if r['prio'] > 5]
    hi_done = max((r['recv'] for r in higher), default=window_start)
    lat5 = [(r['recv'] - max(r['ts'], hi_done), r['recv'] - r['ts'], r) for r in live if r['prio'] == 5]
    say('  the stored readings of priorities above 5 (%d) were through %.3f s into the live window; live '
        'priority-5 readings taken before then: %d' % (len(higher), hi_done - window_start,
                                                       sum(1 for x in lat5 if x[2]['ts'] < hi_done)))
    say('  live priority 5, counted from when it was taken or the higher backlog was through, whichever is '
        'later: %s' % describe([x[0] for x in lat5]))
    if not lat5:
        problems.append('no live priority-5 reading arrived')
    elif max(x[0] for x in lat5) > bound:
        worst = max(lat5, key=lambda x: x[0])
        problems.append('live priority-5 readings later than the bound %.3f s: worst %.3f s (seq %d, taken %.3f s '
                        'into the window)' % (bound, worst[0], worst[2]['seq'], worst[2]['ts'] - window_start))

    # The backlog was still draining while the live readings arrived.
    firsts = {}
    for r in old:
        k = (r['ep'], r['seq'])
        firsts[k] = min(firsts.get(k, r['recv']), r['recv'])
    arrivals = sorted(firsts.values())

    def backlog_by(t):
        return sum(1 for a in arrivals if a <= t)

    span = window_end - window_start
    marks = [(f, backlog_by(window_start + f * span)) for f in (0.25, 0.5, 0.75, 1.0)]
    say('  backlog readings received by 25/50/75/100%% of the live window: %s of %d' %
        (', '.join(str(n) for _, n in marks), backlog))
    counts = [n for _, n in marks]
    if not counts[-1] < backlog:
        problems.append('the backlog was through (%d of %d) by the end of the live window: it was not drained '
                        'beside the live readings' % (counts[-1], backlog))
    if not all(a < b for a, b in zip(counts, counts[1:])):
        problems.append('the backlog did not grow through the live window: %s' % counts)
    if arrivals:
        drain_s = arrivals[-1] - arrivals[0]
        say('  drain: %d backlog readings in %.1f s (%.0f readings/s); on the wire %d bytes sent in %.1f s '
            '(%.0f B/s of %.0f B/s); tc: %s' % (len(arrivals), drain_s, len(arrivals) / max(drain_s, 1e-6),
                                               link.get('bytes_sent', 0), stop.get('elapsed_s', 0),
                                               link.get('bytes_sent', 0) / max(stop.get('elapsed_s', 1), 1e-6),
                                               rate, json.dumps(shaped)))

    # Every seq arrived.
    n = stop.get('committed', 0)
    next_seq = outbox_stats(outpost, site2)['next_seq']
    seqs = {s for _, s in got.seqs()}
    missing = uncovered(range(1, next_seq), seqs, got.loss_ranges())
    say('  seqs 1..%d: %d received, %d missing' % (next_seq - 1, len(seqs), len(missing)))
    if missing:
        problems.append('%d seqs never arrived: %s' % (len(missing), ranges_text(missing)))
    live_distinct = len({(r['ep'], r['seq']) for r in live + early})
    if live_distinct != stop.get('readings'):
        problems.append('%d distinct readings of the live bus arrived, the gateway read %s' %
                        (live_distinct, stop.get('readings')))
    say('  gateway at stop: committed %s, acknowledged %s, batches %s, payload %s B, link %s' %
        (n, stop.get('acknowledged'), stop.get('batches'), stop.get('payload_bytes'), json.dumps(link)))
    conclude(outpost, sub, work, problems)


# ---------------------------------------------------------------------------------------------
# budget

BUDGET_SECONDS = 40
BUDGET_BYTES = int(os.environ.get('OUTPOST_LINK_BUDGET', 18000))
TTL_HELD = 5


def frame_offsets(path, ids):
    """Seconds from a candump log's first frame to each frame whose id is in `ids`."""
    offsets, first = [], None
    with open(path) as f:
        for line in f:
            m = re.match(r'\((\d+\.\d+)\) \S+ ([0-9A-Fa-f]+)#', line)
            if not m:
                continue
            ts = float(m.group(1))
            first = ts if first is None else first
            if m.group(2).upper() in ids:
                offsets.append(ts - first)
    return offsets


LOSS_WINDOW = 10   # outbox.loss_window_s: expiry records settle 2 x this after they are written
EXPIRY_GRACE = 10  # outbox.expiry_grace_s: the sweep removes a held row this long after its TTL ran out


def outbox_keys(ttl):
    return {'ttl_s': ttl, 'loss_window_s': LOSS_WINDOW, 'expiry_grace_s': EXPIRY_GRACE}


def check_budget(outpost, work):
    port = lib.free_port()
    log = gen_log(work, 'bms.log', '--seconds', str(BUDGET_SECONDS))
    link = {'budget': {'daily_bytes': BUDGET_BYTES, 'reserve_percent': 10, 'always_from_priority': 8},
            'batch': {'encoding': 'cbor', 'max_delay_ms': 1000, 'group_levels': 2, 'retained': 'batch'}}
    ttl = {str(p): TTL_HELD for p in range(8)}
    site, _ = write_site(work, 'site.json', port, [bus(log, 1.0, True)], link=link, outbox=outbox_keys(ttl))
    glog = os.path.join(work, 'gateway.log')
    say('budget: %d bytes a day, reserve 10%% (held from %d bytes), always from priority 8; TTL %d s for '
        'priorities 0..7; a %d s replay at speed 1.0' %
        (BUDGET_BYTES, BUDGET_BYTES * 9 // 10, TTL_HELD, BUDGET_SECONDS))
    with Rig(Broker(work, [port])) as rig:
        rig.broker.start()
        sub = rig.subscriber(work, port)
        started = time.time()
        gw = rig.add(lib.gateway(outpost, site, glog))
        replay_end = replay_done(gw, glog, BUDGET_SECONDS + 60)
        # The held readings expire 5 s after they were taken; the sweep removes held rows EXPIRY_GRACE s
        # after that and the loss records go out 2 x LOSS_WINDOW s after they were written: wait for the
        # outbox to empty and for every seq numbered so far to have arrived or to be covered by a loss record.
        deadline = replay_end + TTL_HELD + EXPIRY_GRACE + 2 * LOSS_WINDOW + 60
        say('replay over %.1f s after the start; waiting for the held readings to expire and their loss '
            'records to arrive (up to %.0f s)' % (replay_end - started, deadline - time.time()))
        state = {}

        def settled():
            s = outbox_stats(outpost, site)
            if s.get('rows') != 0:
                return False
            got = Received(sub.path)
            left = uncovered(range(1, s['next_seq']), {q for _, q in got.seqs()}, got.loss_ranges())
            state.update(next_seq=s['next_seq'], left=left)
            return not left

        ok = lib.wait_until(deadline - time.time(), settled, 2)
        waited = time.time() - replay_end
        stop_gateway(gw, glog)
        rig.finish(sub)
    say('settled %s, %.0f s after the replay ended%s' %
        ('yes' if ok else 'NO', waited, '' if ok else ': not covered %s' % ranges_text(state.get('left', []))))

    problems = []
    stop = stop_line(glog)
    linkc = stop.get('link', {})
    holds = lib.log_events(glog, ('uplink.budget_hold',))
    got = Received(sub.path)
    check_decoded(got, problems)
    if not holds:
        raise Failure('no uplink.budget_hold: the budget was never reached (day_bytes %s, budget %d)' %
                      (linkc.get('day_bytes'), BUDGET_BYTES))
    hold = holds[0]
    t_hold = utc_seconds(hold['ts'])
    say('hold: %.1f s into the replay (%.0f%%), %s' %
        (t_hold - started, 100 * (t_hold - started) / (replay_end - started),
         json.dumps({k: hold.get(k) for k in ('held_below_priority', 'day_bytes', 'daily_budget')})))
    if not started + 0.1 * (replay_end - started) < t_hold < replay_end - 0.1 * (replay_end - started):
        problems.append('the hold did not begin partway through the replay (%.1f s of %.1f s)' %
                        (t_hold - started, replay_end - started))
    if hold.get('held_below_priority') != 8:
        problems.append('held below priority %s, not 8' % hold.get('held_below_priority'))
    if len(holds) > 1 or lib.log_events(glog, ('uplink.budget_release',)):
        problems.append('the hold was released or began again within one UTC day: %s' %
                        [e['event'] for e in lib.log_events(glog, ('uplink.budget_hold', 'uplink.budget_release'))])

    after = [r for r in got.readings if r['ts'] > t_hold + 0.001]
    low_after = [r for r in after if r['prio'] < 8]
    p8_after = [r for r in after if r['prio'] == 8]
    before_low = [r for r in got.readings if r['ts'] <= t_hold + 0.001 and r['prio'] < 8]
    loss_after = [l for l in got.losses if l['recv'] > t_hold]
    say('readings received: %d of priority < 8 taken before the hold, %d taken after it (must be 0); priority 8 '
        'taken after it: %d; loss records received after the hold: %d (%s)' %
        (len(before_low), len(low_after), len(p8_after), len(loss_after),
         ', '.join('%s p%s %s x%s' % (l['loss']['reason'], l['loss']['priority'],
                                       '%d-%d' % (l['loss']['first_seq'], l['loss']['last_seq']), l['loss']['count'])
                   for l in loss_after)))
    if low_after:
        problems.append('%d readings of priority < 8 taken after the hold arrived, e.g. %s' %
                        (len(low_after), [(r['seq'], r['topic'], round(r['ts'] - t_hold, 3)) for r in low_after[:5]]))
    # The replay reads a frame no earlier than its offset in the log after gateway.start: the frames of the
    # priority-8 signals (0x102 temp_max, 0x18FF50E5 insulation_resistance) at offsets past the hold were
    # read after it, and every one must arrive. The log's times have milliseconds and `after` starts 1 ms
    # past the hold: a frame due within 50 ms of the hold may fall either side and is not counted.
    gw_start = utc_seconds(lib.log_events(glog, ('gateway.start',))[0]['ts'])
    expected_p8 = sum(1 for o in frame_offsets(log, ('102', '18FF50E5')) if gw_start + o > t_hold + 0.05)
    if len(p8_after) < expected_p8:
        problems.append('only %d priority-8 readings taken after the hold arrived; the log has %d frames of them '
                        'after it' % (len(p8_after), expected_p8))
    expired_records = [l for l in loss_after if l['loss'].get('reason') == 'expired_ttl']
    check_loss_topics(got, problems)
    if not expired_records:
        problems.append('no expired_ttl loss record arrived after the hold')
    if any(l['loss'].get('priority', 99) >= 8 for l in expired_records):
        problems.append('an expiry record for priority >= 8 (no TTL there): %s' % expired_records)
    expired = stop.get('expired', 0)
    recorded = sum(l['loss']['count'] for l in got.losses if l['loss'].get('reason') == 'expired_ttl')
    say('expired (stop line) %d; expired_ttl loss records received: %d covering %d readings' %
        (expired, len([l for l in got.losses if l['loss'].get('reason') == 'expired_ttl']), recorded))
    if expired <= 0:
        problems.append('nothing expired (stop line "expired" %s)' % expired)
    if recorded != expired:
        problems.append('the expired_ttl loss records received count %d readings, the gateway expired %d' %
                        (recorded, expired))
    if not ok:
        problems.append('seqs neither received nor covered by a loss record %.0f s after the replay: %s' %
                        (waited, ranges_text(state.get('left', []))))

    say('link counters at stop: %s; payload %s B' % (json.dumps(linkc), stop.get('payload_bytes')))
    day = linkc.get('day_bytes', 0)
    if day < BUDGET_BYTES * 0.9:
        problems.append('day_bytes %d < 90%% of the budget %d although the hold began' % (day, BUDGET_BYTES))
    wire = linkc.get('bytes_sent', 0) + linkc.get('bytes_received', 0) + \
        (linkc.get('segments_sent', 0) + linkc.get('segments_received', 0)) * TCP_IP_HEADERS
    if wire != linkc.get('wire_bytes'):
        problems.append('wire_bytes %s != bytes sent + received + 52 per segment (%d)' %
                        (linkc.get('wire_bytes'), wire))
    same_day = int(started // 86400) == int(time.time() // 86400)
    if same_day and day != linkc.get('wire_bytes'):
        problems.append('day_bytes %d != wire_bytes %s on a fresh outbox within one UTC day' %
                        (day, linkc.get('wire_bytes')))
    if linkc.get('bytes_sent', 0) < stop.get('payload_bytes', 0):
        problems.append('bytes_sent %s < payload_bytes %s' % (linkc.get('bytes_sent'), stop.get('payload_bytes')))
    conclude(outpost, sub, work, problems)


# ---------------------------------------------------------------------------------------------
# ttl

TTL_SECONDS = 12
TTLS = {2: 4, 5: 4, 7: 600}  # priority -> TTL s; 8 and 9 have none


def metrics(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as r:
        return r.read().decode()


def metric_values(text, name):
    """{labels text: value} of one metric in Prometheus text."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^%s(\{[^}]*\})?\s+(\S+)$' % re.escape(name), line)
        if m:
            out[m.group(1) or ''] = float(m.group(2))
    return out


def check_ttl(outpost, work):
    port = lib.free_port()
    expected_path = os.path.join(work, 'expected.jsonl')
    log = gen_log(work, 'bms.log', '--seconds', str(TTL_SECONDS), '--expected', expected_path)
    with open(expected_path) as f:
        readings = sum(1 for line in f if line.strip())
    site, _ = write_site(work, 'site.json', port, [bus(log, 1.0, True)],
                         outbox=outbox_keys({str(p): s for p, s in TTLS.items()}), http=True)
    glog = os.path.join(work, 'gateway.log')
    say('TTL by priority: %s (none for 8 and 9); a %d s replay at speed 1.0 while the broker is down' %
        (TTLS, TTL_SECONDS))
    with Rig(Broker(work, [port], persistent=True)) as rig:
        # A persistent session for the subscriber first, so that the broker queues for it from the moment it
        # is back, whoever connects first.
        rig.broker.start()
        sub = rig.subscriber(work, port, client_id='link-ttl-sub')
        rig.broker.stop()

        gw = rig.add(lib.gateway(outpost, site, glog))
        replay_done(gw, glog, TTL_SECONDS + 60)
        if not lib.wait_until(30, lambda: outbox_stats(outpost, site).get('rows') == readings, 0.2):
            raise Failure('the outbox does not hold the %d readings of the log: %s\n%s' %
                          (readings, outbox_stats(outpost, site), tail(glog)))
        http_port = lib.log_events(glog, ('http.listening',))[0]['port']
        export = subprocess.run([outpost, 'outbox', 'export', '--config', site], capture_output=True, text=True,
                                timeout=60)
        if export.returncode != 0:
            raise Failure('outpost outbox export: %s' % export.stderr)
        stored = [json.loads(line) for line in export.stdout.splitlines() if line.strip()]
        # Every row of a priority with a TTL of seconds must be past it before the broker comes back.
        short = [m for m in stored if TTLS.get(m['priority'], 0) and TTLS[m['priority']] < 60]
        newest = max(m['created_ns'] for m in short) / 1e9
        back_at = newest + max(TTLS[m['priority']] for m in short) + 1.0
        time.sleep(max(0.0, back_at - time.time()))
        state_before = outbox_stats(outpost, site)
        rig.broker.start()
        back = time.time()
        say('stored while the broker was down: %d readings (by priority: %s); %d of priorities with a short TTL, the '
            'newest taken %.1f s before the broker came back' %
            (len(stored), state_before.get('rows_by_priority'), len(short), back - newest))
        if any(m['created_ns'] / 1e9 + TTLS[m['priority']] > back for m in short):
            raise Failure('a reading with a short TTL was still within it when the broker came back')

        # The expiry records go out once settled (2 x LOSS_WINDOW s after they were written).
        expired_seqs = {m['seq'] for m in short}
        state = {}

        def covered():
            got = Received(sub.path)
            ranges = got.loss_ranges('expired_ttl')
            state['ranges'] = ranges
            return expired_seqs and all(any(a <= s <= b for a, b, *_ in ranges) for s in expired_seqs)

        ok = lib.wait_until(2 * LOSS_WINDOW + 90, covered, 2)
        waited = time.time() - back
        text = metrics(http_port)
        by_prio = metric_values(text, 'outpost_outbox_expired_messages_total')
        stop_gateway(gw, glog)
        rig.finish(sub)

    problems = []
    stop = stop_line(glog)
    got = Received(sub.path)
    say('loss records covering every expired seq: %s, %.0f s after the broker came back' %
        ('yes' if ok else 'NO', waited))
    check_decoded(got, problems)
    received = {r['seq'] for r in got.readings}
    arrived_expired = sorted(expired_seqs & received)
    by_priority = {}
    for m in stored:
        by_priority.setdefault(m['priority'], set()).add(m['seq'])
    for p in sorted(by_priority):
        seqs = by_priority[p]
        say('  priority %d (TTL %s): %d stored, %d arrived' % (p, TTLS.get(p, 'none'), len(seqs), len(seqs & received)))
    if arrived_expired:
        problems.append('%d readings past their TTL were sent: seqs %s' %
                        (len(arrived_expired), ranges_text(arrived_expired)))
    kept = {m['seq'] for m in stored} - expired_seqs
    if kept - received:
        problems.append('%d readings of priorities without a short TTL never arrived: %s' %
                        (len(kept - received), ranges_text(kept - received)))
    check_loss_topics(got, problems)
    ranges = got.loss_ranges('expired_ttl')
    say('  expired_ttl loss records: %s' % ', '.join('p%s %d-%d x%s' % (r[3], r[0], r[1], r[2]) for r in ranges))
    in_records = set()
    for a, b, count, prio, _ in ranges:
        span = set(range(a, b + 1))
        # A record's range may span seqs of other priorities; its count is exact.
        mine = span & by_priority.get(prio, set())
        in_records |= mine
        if count != len(mine):
            problems.append('the loss record p%s %d-%d counts %s, but %d readings of that priority lie in its range'
                            % (prio, a, b, count, len(mine)))
    if in_records != expired_seqs:
        problems.append('the expired_ttl records cover %s, the readings past their TTL were %s (difference %s)' %
                        (len(in_records), len(expired_seqs), ranges_text(in_records ^ expired_seqs)))
    if sum(r[2] for r in ranges) != len(expired_seqs):
        problems.append('the expired_ttl records count %d readings, %d were past their TTL' %
                        (sum(r[2] for r in ranges), len(expired_seqs)))
    expired = stop.get('expired')
    say('  expired: stop line %s, /metrics by priority %s; expected %d' %
        (expired, {k: v for k, v in by_prio.items() if v}, len(expired_seqs)))
    if expired != len(expired_seqs):
        problems.append('the stop line reports expired %s, %d readings were past their TTL' %
                        (expired, len(expired_seqs)))
    for p in range(10):
        want = len([m for m in short if m['priority'] == p])
        have = by_prio.get('{priority="%d"}' % p, 0)
        if have != want:
            problems.append('/metrics: outpost_outbox_expired_messages_total{priority="%d"} %s, expected %d' %
                            (p, have, want))
    conclude(outpost, sub, work, problems)


# ---------------------------------------------------------------------------------------------
# kill9_batched

KILL_FRAMES = 30000  # 1 ms apart at speed 1.0: 30 s, 110,000 readings
KILLS = 10
BROKER_RESTARTS_AFTER = (3, 7)  # kills after which the broker is restarted while the gateway runs
K9_WINDOW = 64
K9_MAX_READINGS = 500
MOSQUITTO_INFLIGHT = 20  # mosquitto's max_inflight_messages (default) towards the subscriber


def check_kill9_batched(outpost, work):
    if importlib.util.find_spec('zstandard') is None and not shutil.which('zstd'):
        raise Skip('neither python3-zstandard nor the zstd program: the reference decoder cannot read zstd')
    seed = int(os.environ.get('OUTPOST_LINK_SEED') or time.time_ns() % 1000000)
    rng = random.Random(seed)
    port = lib.free_port()
    log = os.path.join(work, 'bms.log')
    expected = lib.make_log(log, KILL_FRAMES, 1700000000.0)
    link = {'batch': {'encoding': 'cbor', 'compression': 'zstd', 'max_delay_ms': 500, 'group_levels': 2,
                      'retained': 'batch', 'max_readings': K9_MAX_READINGS}}
    site, _ = write_site(work, 'site.json', port, [bus(log, 1.0, False)], link=link,
                         broker={'inflight_window': K9_WINDOW})
    glog = os.path.join(work, 'gateway.log')
    say('seed %d (OUTPOST_LINK_SEED); %d frames 1 ms apart at speed 1.0 (%d readings); batches: cbor + zstd, '
        'max_readings %d, in-flight window %d' % (seed, KILL_FRAMES, len(expected), K9_MAX_READINGS, K9_WINDOW))
    kills = []
    broker_restarts = []
    with Rig(Broker(work, [port], persistent=True)) as rig:
        rig.broker.start()
        sub = rig.subscriber(work, port, client_id='link-kill9-sub')
        began = time.monotonic()
        for k in range(1, KILLS + 1):
            gw = rig.add(lib.gateway(outpost, site, glog))
            t0 = time.monotonic()
            if k - 1 in BROKER_RESTARTS_AFTER:
                time.sleep(rng.uniform(0.3, 1.5))
                t = time.monotonic()
                rc = rig.broker.stop()
                down = rng.uniform(0.2, 1.5)
                time.sleep(down)
                rig.broker.start()
                broker_restarts.append((round(t - t0, 2), round(down, 2), rc))
            time.sleep(rng.uniform(0.2, 3.0))
            if not gw.alive():
                raise Failure('the gateway exited by itself (rc %s):\n%s' % (gw.wait(1), tail(glog)))
            gw.kill(signal.SIGKILL)
            gw.wait(10)
            gw.stop()
            st = outbox_stats(outpost, site)
            kills.append((round(time.monotonic() - t0, 2), st['rows'], st['next_seq']))
        say('kills (s after start, rows stored, next_seq): %s' % kills)
        say('broker restarts (s after the gateway started, s down, rc): %s' % broker_restarts)
        gw = rig.add(lib.gateway(outpost, site, glog, 'drain'))
        rc = gw.wait(240)
        if rc is None:
            raise Failure('the last run did not finish the replay and drain within 240 s:\n' + tail(glog))
        if rc != 0:
            raise Failure('the last run exited %d:\n%s' % (rc, tail(glog)))
        total_s = time.monotonic() - began
        rig.finish(sub)

    problems = []
    stats = outbox_stats(outpost, site)
    losses = stats.get('losses', []) or []
    not_committed = [(int(l['first_seq']), int(l['last_seq']), l.get('count'), l.get('priority'), l.get('reason'))
                     for l in losses]
    got = Received(sub.path)
    check_decoded(got, problems)
    seqs = {s for _, s in got.seqs()}
    missing = uncovered(range(1, stats['next_seq']), seqs, not_committed)
    say('all over after %.1f s; outbox: %d rows, next_seq %d, losses %s' %
        (total_s, stats['rows'], stats['next_seq'], [(l.get('reason'), l.get('count'), l.get('first_seq'),
                                                      l.get('last_seq')) for l in losses]))
    if stats['rows'] != 0:
        problems.append('%d rows left in the outbox after the drain' % stats['rows'])
    if missing:
        problems.append('%d committed seqs never arrived: %s' % (len(missing), ranges_text(missing)))

    # Content: every reading of the log arrived, and no (ep, seq) names two readings.
    content = {}
    conflicts = []
    for r in got.readings:
        parts = r['topic'].split('/')
        k = lib.key(parts[-2] + '/' + parts[-1], r['ts'], r['value'])
        prev = content.setdefault((r['ep'], r['seq']), k)
        if prev != k:
            conflicts.append(((r['ep'], r['seq']), prev, k))
    keys = set(content.values())
    absent = [k for k in expected if k not in keys]
    distinct = len(content)
    dups = len(got.readings) - distinct
    faults = KILLS + len(BROKER_RESTARTS_AFTER)
    # What a fault can cost, from the contract: a row is deleted only after the broker acknowledged it, so
    # after a kill only the rows still stored can arrive twice; after a broker restart, what the gateway
    # had in flight (its window of batches) and what the broker had in flight to the subscriber (mosquitto's
    # max_inflight_messages, 20 by default) can.
    stored_after_kills = sum(rows for _, rows, _ in kills)
    per_restart = (K9_WINDOW + MOSQUITTO_INFLIGHT) * K9_MAX_READINGS
    bound = stored_after_kills + len(broker_restarts) * per_restart
    say('received: %d messages (%d batches), %d readings, %d distinct (ep, seq), %d duplicates (%.0f per fault); '
        'bound: %d rows stored after the kills + %d broker restarts x (%d + %d messages in flight) x %d readings = '
        '%d; %d readings of the log never arrived; %d conflicts; epochs %s' %
        (got.messages, got.batches, len(got.readings), distinct, dups, dups / faults, stored_after_kills,
         len(broker_restarts), K9_WINDOW, MOSQUITTO_INFLIGHT, K9_MAX_READINGS, bound, len(absent), len(conflicts),
         sorted({r['ep'] for r in got.readings})))
    if conflicts:
        problems.append('%d (ep, seq) named two different readings: %s' % (len(conflicts), conflicts[:3]))
    if absent:
        problems.append('%d readings of the log never arrived: %s' % (len(absent), absent[:5]))
    if dups > bound:
        problems.append('%d duplicates, more than the faults allow (%d)' % (dups, bound))
    conclude(outpost, sub, work, problems)


# ---------------------------------------------------------------------------------------------
# budget_drain: `--exit-after drain` under a budget hold

DRAIN_SECONDS = 10
DRAIN_BUDGET = 3000
DRAIN_TTL = 3
KEEPALIVE = 30    # broker.keepalive_s (default)


def check_budget_drain(outpost, work):
    """`--exit-after drain` stops "when the outbox is empty": under a budget hold the held readings expire,
    the sweep removes them, and then nothing is left to deliver."""
    port = lib.free_port()
    log = gen_log(work, 'bms.log', '--seconds', str(DRAIN_SECONDS))
    link = {'budget': {'daily_bytes': DRAIN_BUDGET, 'reserve_percent': 10, 'always_from_priority': 8},
            'batch': {'encoding': 'cbor', 'max_delay_ms': 1000, 'group_levels': 2, 'retained': 'batch'}}
    site, _ = write_site(work, 'site.json', port, [bus(log, 1.0, True)], link=link,
                         outbox=outbox_keys({str(p): DRAIN_TTL for p in range(8)}))
    glog = os.path.join(work, 'gateway.log')
    say('budget %d bytes a day (held from %d), TTL %d s for priorities 0..7, a %d s replay, --exit-after drain' %
        (DRAIN_BUDGET, DRAIN_BUDGET * 9 // 10, DRAIN_TTL, DRAIN_SECONDS))
    with Rig(Broker(work, [port])) as rig:
        rig.broker.start()
        gw = rig.add(lib.gateway(outpost, site, glog, 'drain'))
        replay_end = replay_done(gw, glog, DRAIN_SECONDS + 60)
        if not lib.log_events(glog, ('uplink.budget_hold',)):
            raise Failure('the budget was never reached:\n' + tail(glog))
        # The last held reading expires DRAIN_TTL s after the replay and the sweep may remove it EXPIRY_GRACE s
        # later. The sweep runs with a commit: with no reading left to commit, the next one comes when the
        # link's byte count moves (it is committed as a position), at the latest with the keepalive's PINGREQ.
        deadline = replay_end + DRAIN_TTL + EXPIRY_GRACE + KEEPALIVE + 15
        if not lib.wait_until(deadline - time.time(), lambda: outbox_stats(outpost, site).get('rows') == 0, 1):
            raise Failure('the held readings were not swept: %s' % outbox_stats(outpost, site))
        empty = time.time()
        # The gateway looks at its exit condition at every commit (commit_interval_ms, 200 ms).
        rc = gw.wait(10)
        stats = outbox_stats(outpost, site)
        last = lib.last_stats(glog) or {}
        say('outbox empty %.1f s after the replay (rows %s, next_seq %s); the gateway %s' %
            (empty - replay_end, stats.get('rows'), stats.get('next_seq'),
             'exited %s after %.1f s' % (rc, time.time() - empty) if rc is not None else 'still runs 10 s later'))
        say('its last counters: %s' % json.dumps({k: last.get(k) for k in (
            'committed', 'acknowledged', 'expired', 'outbox_rows', 'staged', 'inflight', 'held_below_priority',
            'connected')}))
        if rc is None:
            raise Failure('--exit-after drain: the outbox has been empty for 10 s (every reading acknowledged or '
                          'expired) and the gateway still runs while the budget holds priorities below 8')
        if rc != 0:
            raise Failure('outpost run exited %d:\n%s' % (rc, tail(glog)))


# ---------------------------------------------------------------------------------------------

CHECKS = {'live_first': check_live_first, 'budget': check_budget, 'ttl': check_ttl,
          'kill9_batched': check_kill9_batched, 'budget_drain': check_budget_drain}


def check_prerequisites():
    for tool in ('mosquitto', 'mosquitto_sub', 'mosquitto_pub'):
        if not shutil.which(tool):
            raise Skip('%s is not installed (Debian: mosquitto, mosquitto-clients)' % tool)
    if os.geteuid() != 0:
        raise Skip('needs root: mosquitto runs with `user root`, and the link cap needs a network namespace and tc')


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        print(__doc__)
        return 2
    name, outpost = sys.argv[1], os.path.abspath(sys.argv[2])
    try:
        check_prerequisites()
        if name == 'live_first':
            enter_netns(sys.argv[1:])
    except Skip as e:
        say('SKIP: %s' % e)
        return SKIP
    return run_check('link.' + name, lambda work: CHECKS[name](outpost, work), 'outpost-link-%s-' % name)


if __name__ == '__main__':
    sys.exit(main())
