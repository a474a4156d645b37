#!/usr/bin/python3
"""Failover against a real clustered broker (issue 10): two RabbitMQ nodes clustered on loopback.

Two nodes of Debian's rabbitmq-server with the MQTT plugin (MQTT 3.1.1) run on loopback, each with its own
node name, ports (AMQP, distribution, MQTT) and directories inside the test's temp dir; both register with
one epmd on a port of the test's own (Erlang nodes find each other through epmd, so a cluster's nodes must
share it), and the CLI uses a cookie in the test's HOME, never the system's. Node B joins node A
(stop_app / join_cluster / start_app).

The gateway replays a recorded candump log at its recorded rate to node A's MQTT port, node B as its
alternate. A subscriber with a persistent session (mosquitto_sub -c, QoS 1) listens on node B, the node
that stays. After some readings have arrived node A is stopped (rabbitmqctl stop): the gateway must log
uplink.connected with node B's address, drain its outbox, and `outpost audit` of the subscriber's capture
must find every expected reading and no unexplained gap. The time from node A's stop to the gateway's
connection to node B is printed.

Usage: rabbitmq_cluster.py OUTPOST_BINARY. Exit 0 pass, 1 fail, 77 skip (a precise reason on stdout).
Needs root: the nodes run as the `rabbitmq` user. setpriv drops to it and keeps the test's environment;
Debian's /usr/sbin wrappers drop with su, which resets HOME (the system's cookie in /var/lib/rabbitmq).
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tools', 'faults'))
import lib  # noqa: E402  (Proc, free_port, wait_until, log_events, outbox_stats)
from check_support import SKIP, Failure, Skip, audit, listening, run_check, say  # noqa: E402  (beside this script)

RABBIT_BIN = '/usr/lib/rabbitmq/bin'
GW = 'rabbit-gw'
REPLAY_SECONDS = 40
STOP_A_AFTER_READINGS = 300


def low_port():
    """A free loopback port below 55000 (RabbitMQ derives other ports from the distribution port)."""
    for _ in range(200):
        port = lib.free_port()
        if port < 55000:
            return port
    raise Failure('no free port below 55000')


class Node:
    """One RabbitMQ node: its own name, ports and directories; started as the rabbitmq user."""

    def __init__(self, work, name, epmd_port, cookie):
        self.name = name
        self.node = name + '@localhost'
        self.dir = os.path.join(work, name)
        self.epmd_port = epmd_port
        self.amqp_port = low_port()
        self.dist_port = low_port()
        self.mqtt_port = low_port()
        self.ctl_port = low_port()
        self.proc = None
        self.running = False
        home = os.path.join(self.dir, 'home')
        for d in (home, os.path.join(self.dir, 'mnesia'), os.path.join(self.dir, 'log')):
            os.makedirs(d)
        with open(os.path.join(self.dir, 'rabbitmq.conf'), 'w') as f:
            f.write('listeners.tcp.default = 127.0.0.1:%d\n'
                    'mqtt.listeners.tcp.default = 127.0.0.1:%d\n'
                    'mqtt.allow_anonymous = true\n'
                    'loopback_users = none\n' % (self.amqp_port, self.mqtt_port))
        with open(os.path.join(self.dir, 'enabled_plugins'), 'w') as f:
            f.write('[rabbitmq_mqtt].\n')
        cookie_file = os.path.join(home, '.erlang.cookie')
        with open(cookie_file, 'w') as f:
            f.write(cookie)
        os.chmod(cookie_file, 0o400)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith('RABBITMQ_') or k.startswith('ERL_'):
                del self.env[k]
        loopback = '-kernel inet_dist_use_interface {127,0,0,1}'
        self.env.update({
            'HOME': home,
            'RABBITMQ_CONFIG_FILE': os.path.join(self.dir, 'rabbitmq.conf'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(self.dir, 'enabled_plugins'),
            'RABBITMQ_MNESIA_BASE': os.path.join(self.dir, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(self.dir, 'log'),
            'RABBITMQ_NODENAME': self.node,
            'RABBITMQ_DIST_PORT': str(self.dist_port),
            'RABBITMQ_CTL_DIST_PORT_MIN': str(self.ctl_port),
            'RABBITMQ_CTL_DIST_PORT_MAX': str(self.ctl_port + 10),
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS': loopback,
            'RABBITMQ_CTL_ERL_ARGS': loopback,
            'ERL_EPMD_PORT': str(epmd_port),
            'ERL_EPMD_ADDRESS': '127.0.0.1',
            'LC_ALL': 'C.UTF-8',
        })

    def as_rabbitmq(self, argv):
        return ['setpriv', '--reuid', 'rabbitmq', '--regid', 'rabbitmq', '--init-groups'] + argv

    def start(self):
        self.proc = lib.Proc(self.as_rabbitmq([os.path.join(RABBIT_BIN, 'rabbitmq-server')]),
                             os.path.join(self.dir, 'server.out'), env=self.env)
        self.running = True

    def ctl(self, *args, timeout=120, check=True):
        r = subprocess.run(self.as_rabbitmq([os.path.join(RABBIT_BIN, 'rabbitmqctl'), '-n', self.node] + list(args)),
                           env=self.env, cwd=self.dir, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Failure('rabbitmqctl -n %s %s: rc %d\n%s%s\n--- server output:\n%s' %
                          (self.node, ' '.join(args), r.returncode, r.stdout, r.stderr, self.tail()))
        return r

    def registered(self):
        """True once the node's name is in our epmd's list (`epmd -names` never starts an epmd)."""
        r = subprocess.run(['epmd', '-names'], env=self.env, capture_output=True, text=True, timeout=10)
        short = self.node.split('@')[0]
        return r.returncode == 0 and any(line.split()[1:2] == [short] for line in r.stdout.splitlines()
                                         if line.startswith('name '))

    def await_startup(self, seconds):
        """`rabbitmqctl await_startup` waits for the boot only on a node it can reach: if the node is not yet
        registered with epmd it fails at once (rc 69, "not running at all"). The CLI's own VM is up in about a
        second, a freshly started server registers some seconds later (later still on a busy machine), so
        first wait for the registration, as long as the server process lives."""
        deadline = time.monotonic() + seconds
        while not self.registered():
            if self.proc and not self.proc.alive():
                raise Failure('%s exited (rc %s) before registering with epmd\n%s' %
                              (self.node, self.proc.p.returncode, self.tail()))
            if time.monotonic() > deadline:
                raise Failure('%s did not register with epmd (port %d) within %d s\n%s' %
                              (self.node, self.epmd_port, seconds, self.tail()))
            time.sleep(0.2)
        left = max(10, int(deadline - time.monotonic()))
        self.ctl('await_startup', '--timeout', str(left), timeout=left + 30)

    def stop(self):
        if not self.running:
            return
        self.running = False
        try:
            self.ctl('stop', timeout=90, check=False)
        except subprocess.TimeoutExpired:
            pass
        if self.proc:
            if self.proc.wait(30) is None:
                say('  %s did not stop after rabbitmqctl stop: killing it' % self.node)
            self.proc.stop()

    def tail(self, lines=40):
        out = []
        for path in (os.path.join(self.dir, 'server.out'), os.path.join(self.dir, 'log', self.node + '.log')):
            try:
                with open(path, errors='replace') as f:
                    out.append('==> %s\n%s' % (path, ''.join(f.readlines()[-lines:])))
            except OSError:
                pass
        return '\n'.join(out)


def pids_matching(pred):
    found = []
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
            with open('/proc/%s/environ' % d, 'rb') as f:
                environ = f.read().split(b'\0')
        except OSError:
            continue
        if cmdline and pred(cmdline, environ):
            found.append((int(d), cmdline.strip()))
    return found


def ours(work, epmd_port):
    """Processes this test started and that may outlive their parent: the nodes (their command lines name
    the work dir) and the epmd the first node daemonised (its environment names our epmd port)."""
    marker = ('ERL_EPMD_PORT=%d' % epmd_port).encode()
    return pids_matching(lambda cmd, env: work in cmd or ('epmd' in cmd and marker in env))


def mqtt_pub(port, topic, message):
    return subprocess.call(['mosquitto_pub', '-V', 'mqttv311', '-h', '127.0.0.1', '-p', str(port), '-q', '1',
                            '-t', topic, '-m', message], stderr=subprocess.DEVNULL, timeout=15) == 0


def file_has(path, text):
    try:
        with open(path, errors='replace') as f:
            return text in f.read()
    except OSError:
        return False


def count_lines(path):
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def event_time(event):
    """The log line's UTC timestamp (ISO 8601) as seconds since the epoch."""
    ts = event.get('ts', '')
    return datetime.fromisoformat(ts.replace('Z', '+00:00')).timestamp()


def check_prerequisites():
    if not os.path.exists(os.path.join(RABBIT_BIN, 'rabbitmq-server')):
        raise Skip('rabbitmq-server is not installed (tools/install-deps.sh test installs it)')
    for tool in ('mosquitto_sub', 'mosquitto_pub', 'setpriv', 'epmd'):
        if not shutil.which(tool):
            raise Skip('%s is not installed' % tool)
    if os.geteuid() != 0:
        raise Skip('needs root: the nodes run as the rabbitmq user (setpriv)')
    try:
        pwd.getpwnam('rabbitmq')
    except KeyError:
        raise Skip('no rabbitmq user (the rabbitmq-server package creates it)')


def run(outpost, work, epmd_port):
    timings = {}
    cookie = 'OUTPOST%08d%d' % (os.getpid(), int(time.time()))
    a = Node(work, 'outpost-rabbit-a-%d' % os.getpid(), epmd_port, cookie)
    b = Node(work, 'outpost-rabbit-b-%d' % os.getpid(), epmd_port, cookie)
    nodes = [a, b]
    rabbit = pwd.getpwnam('rabbitmq')
    for root, dirs, files in os.walk(work):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.chown(name, rabbit.pw_uid, rabbit.pw_gid)
    state = {'procs': []}

    try:
        say('nodes: A %s (mqtt %d, amqp %d, dist %d), B %s (mqtt %d, amqp %d, dist %d), epmd %d' %
            (a.node, a.mqtt_port, a.amqp_port, a.dist_port, b.node, b.mqtt_port, b.amqp_port, b.dist_port,
             epmd_port))
        t0 = time.monotonic()
        a.start()
        b.start()
        try:
            a.await_startup(120)
            b.await_startup(120)
        except Failure as e:
            raise Skip('the RabbitMQ nodes do not start here: %s' % e)
        timings['start'] = time.monotonic() - t0
        t1 = time.monotonic()
        steps = []
        for step in (('stop_app',), ('join_cluster', a.node), ('start_app',)):
            t = time.monotonic()
            b.ctl(*step)
            steps.append('%s %.1f s' % (step[0], time.monotonic() - t))
        b.await_startup(120)
        timings['join'] = time.monotonic() - t1
        status = json.loads(a.ctl('cluster_status', '--formatter', 'json').stdout)
        running = sorted(status.get('running_nodes', []))
        if running != sorted([a.node, b.node]):
            raise Failure('the cluster does not run both nodes: %s' % status)
        say('two nodes started in %.1f s, B joined A in %.1f s (%s); running nodes: %s' %
            (timings['start'], timings['join'], ', '.join(steps), ', '.join(running)))
        if not lib.wait_until(30, lambda: all(listening(n.mqtt_port) for n in nodes), 0.2):
            raise Failure('the MQTT listeners are not up')

        # The subscriber on node B (the node that stays), a persistent session; a probe published on A
        # proves that the cluster routes A's publishes to B's queue.
        capture = os.path.join(work, 'capture.txt')
        sub = lib.Proc(['mosquitto_sub', '-V', 'mqttv311', '-h', '127.0.0.1', '-p', str(b.mqtt_port), '-q', '1',
                        '-c', '-i', 'outpost-rabbit-audit', '-t', '#', '-F', '%U %t %p'], capture)
        state['procs'].append(sub)
        if not lib.wait_until(30, lambda: mqtt_pub(b.mqtt_port, 'probe/b', 'b') and
                              lib.wait_until(1, lambda: file_has(capture, 'probe/b'), 0.1)):
            raise Failure('the subscriber on B receives nothing:\n' + open(sub.log_path, errors='replace').read())
        if not (mqtt_pub(a.mqtt_port, 'probe/a', 'a') and lib.wait_until(10, lambda: file_has(capture, 'probe/a'))):
            raise Failure('a message published on node A does not reach the subscriber on node B')

        log = os.path.join(work, 'bms.log')
        expected_path = os.path.join(work, 'expected.jsonl')
        subprocess.check_call([lib.PY, os.path.join(REPO, 'tools', 'gen_bms_log.py'), '--seconds',
                               str(REPLAY_SECONDS), '--out', log, '--expected', expected_path])
        expected = count_lines(expected_path)

        site = os.path.join(work, 'site.json')
        with open(site, 'w') as f:
            json.dump({
                'gateway_id': GW,
                'broker': {'host': '127.0.0.1', 'port': a.mqtt_port, 'client_id': GW, 'protocol': 'mqtt3.1.1',
                           'alternates': [{'host': '127.0.0.1', 'port': b.mqtt_port}],
                           'connect_timeout_ms': 2000, 'progress_timeout_s': 5, 'failback_after_s': 0,
                           'backoff': {'initial_ms': 100, 'max_ms': 1000}},
                'outbox': {'path': os.path.join(work, 'outbox.db'), 'commit_interval_ms': 50},
                'stats_interval_s': 1,
                'buses': [{'name': 'bms', 'type': 'candump_replay', 'file': log, 'speed': 1.0}],
                'mappings': [os.path.join(REPO, 'configs', 'demo', 'bms_mapping.json')]}, f, indent=1)

        glog = os.path.join(work, 'outpost.log')
        gw = lib.Proc([outpost, 'run', '--config', site, '--exit-after', 'drain'], glog)
        state['procs'].append(gw)
        addr_a = '127.0.0.1:%d' % a.mqtt_port
        addr_b = '127.0.0.1:%d' % b.mqtt_port

        def connected(addr, since=0):
            return [e for e in lib.log_events(glog, ('uplink.connected',))[since:]
                    if str(e.get('address', '')).endswith(':%d' % int(addr.rsplit(':', 1)[1]))]

        if not lib.wait_until(30, lambda: connected(addr_a), 0.1):
            raise Failure('the gateway did not connect to node A:\n' + open(glog, errors='replace').read()[-3000:])
        say('gateway connected to A: %s' % json.dumps(connected(addr_a)[0]))

        def readings_received():
            try:
                with open(capture, errors='replace') as f:
                    return sum(1 for line in f if (' site/' in line or ' ' + GW in line) and 'probe/' not in line)
            except OSError:
                return 0

        if not lib.wait_until(30, lambda: readings_received() >= STOP_A_AFTER_READINGS, 0.1):
            raise Failure('only %d readings reached the subscriber in 30 s' % readings_received())
        before = len(lib.log_events(glog, ('uplink.connected',)))
        say('%d messages received through node A; stopping node A' % readings_received())

        stop_wall = time.time()
        stop_mono = time.monotonic()
        a.stop()
        timings['stop_a'] = time.monotonic() - stop_mono
        if not lib.wait_until(60, lambda: connected(addr_b, before), 0.05):
            raise Failure('the gateway did not move to node B within 60 s of node A stopping:\n' +
                          open(glog, errors='replace').read()[-4000:])
        moved = connected(addr_b, before)[0]
        timings['failover'] = event_time(moved) - stop_wall
        between = [e for e in lib.log_events(glog) if e.get('event', '').startswith('uplink.')
                   and stop_wall - 0.5 <= event_time(e) <= event_time(moved)]
        lost = [e for e in between if e.get('event') == 'uplink.disconnected']
        if not lost:
            raise Failure('no uplink.disconnected from node A before the connection to B: %s' % between)
        say('gateway connected to B %.2f s after node A was told to stop (rabbitmqctl stop returned after '
            '%.1f s; A closed the connection %.2f s after the stop command, B connected %.3f s after that)' %
            (timings['failover'], timings['stop_a'], event_time(lost[0]) - stop_wall,
             event_time(moved) - event_time(lost[0])))
        for e in between:
            say('  %s %s %s' % (e.get('ts'), e.get('event'), json.dumps({k: v for k, v in e.items()
                                                                        if k not in ('ts', 'event', 'level')})))

        rc = gw.wait(REPLAY_SECONDS + 60)
        if rc is None:
            raise Failure('the gateway did not finish the replay and drain in time:\n' +
                          open(glog, errors='replace').read()[-3000:])
        if rc != 0:
            raise Failure('outpost run exited %d:\n%s' % (rc, open(glog, errors='replace').read()[-3000:]))
        stop_event = (lib.log_events(glog, ('gateway.stop',)) or [{}])[-1]
        back_to_a = connected(addr_a, before)
        if back_to_a:
            raise Failure('the gateway connected to the stopped node A again: %s' % back_to_a)
        stats = lib.outbox_stats(outpost, site)
        rows = stats.get('rows', stats.get('outbox', {}).get('rows') if isinstance(stats.get('outbox'), dict) else None)
        say('gateway drained and exited 0; outbox stats: %s' % json.dumps(stats)[:400])
        if rows != 0:
            raise Failure('the outbox is not empty after the drain: %s' % json.dumps(stats))

        # Everything the broker accepted has reached the subscriber once a probe published after it has.
        if not lib.wait_until(60, lambda: mqtt_pub(b.mqtt_port, 'probe/end', 'end') and
                              lib.wait_until(2, lambda: file_has(capture, 'probe/end'), 0.1)):
            raise Failure('the final probe never reached the subscriber')
        sub.stop()

        audit_rc, g = audit(outpost, capture, work, GW)
        say('audit (rc %d): expected %d readings; distinct %s, missing %s, unexplained_missing %s, duplicates %s, '
            'complete %s; latency %s' % (audit_rc, expected, g.get('distinct_readings'), g.get('missing'),
                                         g.get('unexplained_missing'), g.get('duplicates'), g.get('complete'),
                                         json.dumps(g.get('latency_s'))))
        say('gateway at stop: %s' % json.dumps({k: stop_event.get(k) for k in
                                                ('acknowledged', 'published', 'resent', 'reconnects', 'losses')
                                                if k in stop_event}))
        problems = []
        if g.get('unexplained_missing') != 0:
            problems.append('unexplained missing readings: %s' % g.get('unexplained_missing'))
        if g.get('missing') != 0:
            problems.append('missing readings: %s' % g.get('missing'))
        if g.get('distinct_readings') != expected:
            problems.append('distinct readings %s != expected %d' % (g.get('distinct_readings'), expected))
        if audit_rc != 0:
            problems.append('outpost audit exited %d' % audit_rc)
        if problems:
            raise Failure('; '.join(problems) + '\n' + json.dumps(g, indent=1)[:4000])
        say('PASS: failover %.2f s (node A stop -> gateway connected to B); nodes start %.1f s, join %.1f s' %
            (timings['failover'], timings['start'], timings['join']))
    finally:
        for p in reversed(state['procs']):
            p.stop()
        for n in nodes:
            n.stop()


def cleanup(work, epmd_port):
    """Ends the epmd the first node daemonised, then anything of ours still alive; True if all ended."""
    epmd = [pid for pid, cmd in ours(work, epmd_port) if 'epmd' in cmd and work not in cmd]
    if epmd:
        env = dict(os.environ, ERL_EPMD_PORT=str(epmd_port))
        subprocess.call(['epmd', '-kill'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lib.wait_until(5, lambda: not ours(work, epmd_port), 0.1)
    left = ours(work, epmd_port)
    for pid, cmd in left:
        say('  still running after the stop, killed: %d %s' % (pid, cmd[:200]))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    lib.wait_until(5, lambda: not ours(work, epmd_port), 0.1)
    return not left and not ours(work, epmd_port)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    outpost = os.path.abspath(sys.argv[1])
    try:
        check_prerequisites()
    except Skip as e:
        say('SKIP: %s' % e)
        return SKIP
    epmd_port = low_port()

    def body(work):
        os.chmod(work, 0o755)
        run(outpost, work, epmd_port)

    return run_check('integration.rabbitmq_cluster_failover', body, 'outpost-rabbit-',
                     lambda work: cleanup(work, epmd_port))

if __name__ == '__main__':
    sys.exit(main())
