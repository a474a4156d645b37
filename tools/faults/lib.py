"""Shared pieces of the fault-injection suite (tools/faults.sh).

A real mosquitto on a loopback port, an independent subscriber (paho-mqtt, clean session false, QoS 1)
writing everything it receives to a file, the gateway as a child process, candump logs with known
readings, and the checks every case makes against the subscriber's capture:
  - every payload parses as JSON and names an expected reading (no corrupt payload published);
  - no (gw, ep, seq) names two different readings;
  - which expected readings are missing, and how many duplicates arrived.
A reading is identified by its content: topic suffix (message/signal), its log timestamp (the replay
keeps the log's timestamps, `restamp: false`) and its value. Logs made here never share a timestamp.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PY = '/usr/bin/python3'
sys.path.insert(0, os.path.join(REPO, 'tools'))
import gen_bms_log  # noqa: E402  (the encoders of the demo mapping)

GW = 'faults-gw'


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(seconds, pred, step=0.1):
    deadline = time.monotonic() + seconds
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


# ---------------------------------------------------------------------------------------------
# Logs with known readings.

def make_log(path, frames, start, interface='can0'):
    """`frames` frames 1 ms apart from `start` (the demo's three 11-bit messages in turn, 11 readings
    per 3 frames). Returns the expected readings as content keys, in log order."""
    expected = []
    with open(path, 'w') as out:
        for i in range(frames):
            ident, _, enc, name = gen_bms_log.MESSAGES[i % 3]
            ts = start + i * 0.001
            raw, values = enc(ts - start)
            for sig, value in values.items():
                expected.append(key(name + '/' + sig, ts, value))
            out.write('(%.6f) %s %s#%s\n' % (ts, interface, ident, raw.hex().upper()))
    return expected


def key(path, ts, value):
    return (path, round(float(ts) * 1000), round(float(value) * 1000))


# ---------------------------------------------------------------------------------------------
# Processes.

class Proc:
    """A child process in its own process group; stop() ends it and its children."""

    def __init__(self, argv, log, env=None):
        self.log_path = log
        self.log = open(log, 'ab')
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True, env=env)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGKILL:
            # Children that made process groups of their own (timeout(1) does) are still in our session.
            for pid in self.session_pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def session_pids(self):
        pids = []
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % d) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                if int(fields[3]) == self.p.pid:  # field 6 of stat: the session id
                    pids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
        return pids

    def wait(self, timeout=None):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10):
        self.kill(signal.SIGTERM)
        if self.wait(timeout) is None:
            self.kill(signal.SIGKILL)
            self.p.wait()
        self.log.close()
        return self.p.returncode


class Broker:
    """mosquitto on loopback, persistent (saved at a clean stop), queues unbounded."""

    def __init__(self, work, port=None):
        self.work = work
        self.port = port or free_port()
        self.conf = os.path.join(work, 'mosquitto.conf')
        with open(self.conf, 'w') as f:
            f.write('listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n'
                    'autosave_interval 0\nuser root\nmax_queued_messages 0\nmax_inflight_messages 0\n'
                    % (self.port, work))
        self.proc = None

    def start(self):
        self.proc = Proc(['mosquitto', '-c', self.conf], os.path.join(self.work, 'mosquitto.log'))
        if not wait_until(20, self.listening):
            raise RuntimeError('mosquitto did not start')

    def listening(self):
        try:
            socket.create_connection(('127.0.0.1', self.port), 0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def pub(self, topic, payload):
        return subprocess.call(['mosquitto_pub', '-h', '127.0.0.1', '-p', str(self.port), '-q', '1', '-t', topic,
                                '-m', payload], stderr=subprocess.DEVNULL) == 0


class Subscriber:
    """tools/faults/subscriber.py as a child: an independent MQTT 3.1.1 client."""

    def __init__(self, work, port, name='sub'):
        self.path = os.path.join(work, name + '.jsonl')
        self.port = port
        self.proc = Proc([PY, os.path.join(REPO, 'tools', 'faults', 'subscriber.py'), str(port), self.path,
                          'faults-' + name + '-' + str(port)], os.path.join(work, name + '.log'))
        self.probes = 0

    def sync(self, broker, seconds=120):
        """Publishes a probe and waits until it arrives: all the broker had received before is in the file."""
        self.probes += 1
        tag = 'probe/%d' % self.probes
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if broker.pub(tag, 'x') and wait_until(min(5, max(1, deadline - time.monotonic())),
                                                   lambda: self._has(tag), 0.2):
                return True
            time.sleep(0.5)
        return False

    def _has(self, tag):
        try:
            with open(self.path, 'rb') as f:
                f.seek(max(0, os.path.getsize(self.path) - 4096))
                return ('"%s"' % tag).encode() in f.read()
        except OSError:
            return False

    def stop(self):
        self.proc.stop()


def write_site(path, port, outbox, log=None, speed=1.0, commit_ms=50, extra_outbox=None, gw=GW, host='127.0.0.1'):
    buses = [{'name': 'bms', 'type': 'candump_replay', 'file': log or '-', 'speed': speed if speed else 'max',
              'restamp': False, 'enabled': bool(log)}]
    site = {'gateway_id': gw,
            'broker': {'host': host, 'port': port, 'client_id': gw, 'backoff': {'initial_ms': 50, 'max_ms': 500},
                       'connect_timeout_ms': 2000},
            'outbox': dict({'path': outbox, 'commit_interval_ms': commit_ms}, **(extra_outbox or {})),
            'stats_interval_s': 1,
            'buses': buses,
            'mappings': [os.path.join(REPO, 'configs', 'demo', 'bms_mapping.json')]}
    with open(path, 'w') as f:
        json.dump(site, f, indent=1)
    return path


def gateway(outpost, site, log, exit_after=None):
    argv = [outpost, 'run', '--config', site]
    if exit_after:
        argv += ['--exit-after', exit_after]
    return Proc(argv, log)


def outbox_stats(outpost, site):
    r = subprocess.run([outpost, 'outbox', 'stats', '--config', site], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return {'error': r.stderr.strip() or r.stdout.strip(), 'rc': r.returncode}
    return json.loads(r.stdout)


def log_events(path, names=None):
    out = []
    try:
        with open(path, errors='replace') as f:
            for line in f:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if isinstance(j, dict) and (names is None or j.get('event') in names):
                    out.append(j)
    except OSError:
        pass
    return out


def last_stats(path):
    ev = log_events(path, ('gateway.stats', 'gateway.stop'))
    return ev[-1] if ev else None


# ---------------------------------------------------------------------------------------------
# The checks.

class Capture:
    """What the subscriber received, checked against the expected readings."""

    def __init__(self, path, expected, gw=GW):
        self.expected = set(expected)
        self.expected_total = len(expected)
        self.received = 0
        self.probes = 0
        self.bad_payloads = []     # not JSON, or not an expected reading, or wrong gw
        self.by_id = {}            # (ep, seq) -> content key
        self.id_conflicts = []     # (ep, seq) that named two different readings
        self.count = {}            # content key -> times received
        self.ids_of = {}           # content key -> set of (ep, seq)
        self.loss_report_ids = set()  # (ep, seq) of the loss reports received (status topic /loss)
        if not os.path.exists(path):
            return
        with open(path) as f:
            for line in f:
                try:
                    topic, payload = json.loads(line)
                except ValueError:
                    continue
                if topic.startswith('probe/'):
                    self.probes += 1
                    continue
                if topic.startswith('outpost/') and topic.endswith('/loss'):
                    try:
                        p = json.loads(payload)
                        self.loss_report_ids.add((p['ep'], p['seq']))
                    except (ValueError, KeyError, TypeError):
                        self.bad_payloads.append((topic, payload[:200]))
                    continue
                self.received += 1
                try:
                    p = json.loads(payload)
                    parts = topic.split('/')
                    k = key(parts[-2] + '/' + parts[-1], p['ts'], p['value'])
                    ident = (p['ep'], p['seq'])
                    ok = p['gw'] == gw and topic.startswith('site/' + gw + '/') and k in self.expected
                except (ValueError, KeyError, TypeError, IndexError):
                    ok = False
                if not ok:
                    self.bad_payloads.append((topic, payload[:200]))
                    continue
                prev = self.by_id.setdefault(ident, k)
                if prev != k:
                    self.id_conflicts.append((ident, prev, k))
                self.count[k] = self.count.get(k, 0) + 1
                self.ids_of.setdefault(k, set()).add(ident)

    @property
    def distinct(self):
        return len(self.count)

    @property
    def duplicates(self):
        return self.received - len(self.bad_payloads) - self.distinct

    def missing(self, expected_subset=None):
        pool = self.expected if expected_subset is None else expected_subset
        return [k for k in pool if k not in self.count]

    def summary(self):
        return {'expected': self.expected_total, 'received': self.received, 'distinct': self.distinct,
                'duplicates': self.duplicates, 'missing': len(self.missing()), 'bad_payloads': len(self.bad_payloads),
                'id_conflicts': len(self.id_conflicts)}


def loss_total(stats_json, reasons=None):
    total = 0
    for loss in stats_json.get('losses', []) or []:
        if reasons is None or loss.get('reason') in reasons:
            total += max(0, int(loss.get('count', 0)))
    return total


def undeclared_gaps(cap, stats_json):
    """Sequence numbers below the highest one delivered that were neither delivered (a reading, or a
    loss report: they share the numbering) nor named by a loss record (numbering is global across
    epochs: a new epoch continues from the highest value known)."""
    seqs = {i[1] for i in cap.by_id}
    reports = {i[1] for i in cap.loss_report_ids}
    if not seqs:
        return 0
    covered = [(int(l.get('first_seq', 0)), int(l.get('last_seq', 0))) for l in stats_json.get('losses', []) or []]
    covered.sort()
    gaps, j = 0, 0
    for s in range(1, max(seqs) + 1):
        if s in seqs or s in reports:
            continue
        while j < len(covered) and covered[j][1] < s:
            j += 1
        if not (j < len(covered) and covered[j][0] <= s <= covered[j][1]):
            gaps += 1
    return gaps
