#!/usr/bin/python3
"""One saturated-bus run of the gateway, for tools/bench-saturated.sh.

  saturated.py --bin OUTPOST --root REPO --work DIR --port P --name NAME
               [--buses 4] [--rate 8000] [--signals 6] [--seconds 20] [--tail 10] [--max-rows N]

BUSES candump replays, each RATE frames/s with SIGNALS signals a frame and every signal published
(no rate limits), into an empty outbox, with a loopback broker draining it at QoS 1. After the
replays end the gateway keeps draining alone for TAIL seconds, then gets SIGTERM. From the
gateway.stats lines (one a second) it reports, over the saturation window (from 2 s after the start
to the replays' nominal end) and over the drain-alone window:
offered, read and committed readings/s, acknowledged msgs/s, backlog growth, CPU of the outpost
process (user+sys from /proc/PID/stat), of the broker (--broker-pid) and of the whole machine
(/proc/stat, in cores), RSS (max from wait4, and sampled), and outbox.evicted lines a second.
Prints a human table and writes NAME.result.json.

--ingest-only runs the same load with the broker away (a port nobody listens on): what ingest alone
costs (the outpost process; the idle broker takes nothing). Given that figure (--ingest-cpu), a
normal run also prints the ratio the machine's cores leave room for: (cores - ingest CPU) / (CPU of
the drain alone, outpost and broker), at most 1. It assumes the drain could use every core left;
the io thread and the broker are one thread each, so it is an upper bound.
The same for the outbox's one writer thread (--ingest-writer, its busy share in the --ingest-only
run): (1 - ingest's share) / (the drain alone's share), at most 1. Inserts and deletes both go
through that thread; when the drain alone keeps it busy, this bounds the ratio however the io
thread and the cores are shared.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime

TICKS = os.sysconf('SC_CLK_TCK')


def ts(j):
    return datetime.fromisoformat(j['ts'].replace('Z', '+00:00')).timestamp()


def write_mapping(path, buses, signals):
    """Four 8-byte messages a bus, each with SIGNALS signals filling the frame."""
    widths = {1: [64], 2: [32, 32], 4: [16] * 4, 6: [16, 16, 8, 8, 8, 8], 8: [8] * 8}[signals]
    can = []
    for b in range(buses):
        for m in range(4):
            start, sigs = 0, []
            for k, w in enumerate(widths):
                sigs.append({'name': 's%d' % k, 'start_bit': start, 'length': w, 'factor': 0.1})
                start += w
            can.append({'name': 'm%d' % m, 'id': '0x%X' % (0x200 + m), 'bus': 'bus%d' % b, 'signals': sigs})
    with open(path, 'w') as f:
        json.dump({'defaults': {'topic': 'site/{gateway}/{bus}/{message}/{signal}', 'priority': 5, 'qos': 1},
                   'can': can}, f)


def write_log(path, frames):
    """Frames 1 ms apart (replayed at speed RATE/1000), the four ids in turn, values changing."""
    start = 1700000000.0
    with open(path, 'w') as f:
        for i in range(frames):
            data = ((i * 2654435761) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, 'little').hex().upper()
            f.write('(%.6f) can0 %03X#%s\n' % (start + i * 0.001, 0x200 + i % 4, data))


def prefill(args, w):
    """Stores --backlog readings in the run's outbox: the same mapping, its own log (so the
    saturated run's replay positions are untouched), a broker port nobody listens on."""
    frames = max(1, args.backlog // args.signals)
    write_log(w('backlog.log'), frames)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        dead = s.getsockname()[1]
    site = w(args.name + '-prefill.json')
    open(w('empty.log'), 'w').close()  # the mapping names every bus: the others replay nothing
    others = []
    for b in range(1, args.buses):
        others += ['--bus', 'bus%d:%s:max' % (b, w('empty.log'))]
    subprocess.run(['/usr/bin/python3', os.path.join(args.root, 'tools/bench/site.py'), '--root', args.root,
                    '--out', site, '--port', str(dead), '--outbox', w(args.name + '.db'),
                    '--mapping', w('saturated_mapping.json'), '--max-rows', str(args.max_rows),
                    '--bus', 'bus0:%s:max' % w('backlog.log')] + others, check=True)
    with open(w(args.name + '-prefill.log'), 'w') as log:
        subprocess.run([args.bin, 'run', '--config', site, '--exit-after', 'ingest'], stderr=log, check=True)


def proc_cpu(pid):
    """user+sys seconds of PID so far, or None once it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError):
        return None


def proc_rss_kib(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def machine_busy():
    """Busy jiffies of all CPUs so far (everything but idle and iowait), from /proc/stat."""
    with open('/proc/stat') as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


def read_events(path):
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def rate(stats, key, t0, t1):
    """Change of a counter a second between the stats lines nearest inside [t0, t1]."""
    inside = [s for s in stats if t0 <= ts(s) <= t1]
    if len(inside) < 2:
        return None, inside
    a, b = inside[0], inside[-1]
    return (b[key] - a[key]) / (ts(b) - ts(a)), inside


def cpu_share(samples, t0, t1):
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def main():
    ap = argparse.ArgumentParser()
    for a in ('--bin', '--root', '--work', '--name'):
        ap.add_argument(a, required=True)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--buses', type=int, default=4)
    ap.add_argument('--rate', type=float, default=8000, help='frames/s a bus')
    ap.add_argument('--signals', type=int, default=6, choices=(1, 2, 4, 6, 8))
    ap.add_argument('--seconds', type=float, default=20)
    ap.add_argument('--tail', type=float, default=10, help='seconds of drain alone after the replays')
    ap.add_argument('--max-rows', type=int, default=100_000_000)
    ap.add_argument('--window', type=int, help="the broker's inflight_window (the site's default when not given)")
    ap.add_argument('--broker-pid', type=int, help='the loopback broker, for its CPU')
    ap.add_argument('--ingest-only', action='store_true',
                    help='the broker away: ingest alone, for the CPU it costs (no drain figures)')
    ap.add_argument('--ingest-cpu', type=float,
                    help='cores outpost spent on ingest alone (an --ingest-only run): prints the ratio '
                         'the cores leave room for')
    ap.add_argument('--ingest-writer', type=float,
                    help="the writer thread's busy share on ingest alone (an --ingest-only run): prints the "
                         'ratio the one writer leaves room for')
    ap.add_argument('--link', help='a "link" section for the site, as JSON (e.g. batching)')
    ap.add_argument('--backlog', type=int, default=0,
                    help='readings stored before the saturation starts (ingested with the broker away), so '
                         'the drain has a backlog during the saturation and alone after it')
    args = ap.parse_args()
    w = lambda name: os.path.join(args.work, name)
    frames = max(1, int(args.rate * args.seconds))
    if not os.path.exists(w('saturated.log')) or os.path.getsize(w('saturated.log')) == 0:
        write_log(w('saturated.log'), frames)
    write_mapping(w('saturated_mapping.json'), args.buses, args.signals)
    speed = args.rate / 1000.0
    port = args.port
    if args.ingest_only:
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
    cmd = ['/usr/bin/python3', os.path.join(args.root, 'tools/bench/site.py'), '--root', args.root,
           '--out', w(args.name + '.json'), '--port', str(port), '--outbox', w(args.name + '.db'),
           '--mapping', w('saturated_mapping.json'), '--max-rows', str(args.max_rows)]
    if args.link:
        cmd += ['--link', args.link]
    if args.window:
        cmd += ['--window', str(args.window)]
    for b in range(args.buses):
        cmd += ['--bus', 'bus%d:%s:%g' % (b, w('saturated.log'), speed)]
    subprocess.run(cmd, check=True)
    if args.backlog > 0:
        prefill(args, w)

    log_path = w(args.name + '.log')
    with open(log_path, 'w') as log:
        child = subprocess.Popen([args.bin, 'run', '--config', w(args.name + '.json')], stderr=log)
    samples, rss_samples, done_at, stopped = [], [], None, False
    broker_samples, machine_samples = [], []
    deadline = time.time() + args.seconds * 10 + args.tail + 60  # a gateway far behind is stopped too
    rusage = None
    while rusage is None:
        cpu = proc_cpu(child.pid)
        now = time.time()
        if cpu is not None:
            samples.append((now, cpu))
            machine_samples.append((now, machine_busy()))
            broker_cpu = proc_cpu(args.broker_pid) if args.broker_pid else None
            if broker_cpu is not None:
                broker_samples.append((now, broker_cpu))
            rss = proc_rss_kib(child.pid)
            if rss and samples[0][0] < now - 1.0:  # the first second is the exec and the start
                rss_samples.append((now, rss))
        if done_at is None:
            dones = [e for e in read_events(log_path) if e.get('event') == 'replay.done']
            if len(dones) >= args.buses:
                done_at = now
        if not stopped and ((done_at is not None and now - done_at >= args.tail) or now > deadline):
            child.send_signal(signal.SIGTERM)
            stopped = True
        pid, status, ru = os.wait4(child.pid, os.WNOHANG)
        if pid:
            rusage = ru
            break
        time.sleep(0.25)

    events = read_events(log_path)
    start = ts(next(e for e in events if e.get('event') == 'gateway.start'))
    stats = [e for e in events if e.get('event') == 'gateway.stats']
    dones = [ts(e) for e in events if e.get('event') == 'replay.done']
    replay_end = max(dones) if len(dones) >= args.buses else None
    evicted_lines = [ts(e) for e in events if e.get('event') == 'outbox.evicted']
    offered = args.buses * args.rate * args.signals
    sat0, sat1 = start + 2.0, start + args.seconds
    read, _ = rate(stats, 'readings', sat0, sat1)
    committed, _ = rate(stats, 'committed', sat0, sat1)
    acked_sat, sat_stats = rate(stats, 'acknowledged', sat0, sat1)
    growth, _ = rate([dict(s, backlog=s['outbox_rows'] + s['staged']) for s in stats], 'backlog', sat0, sat1)
    waits, _ = rate([dict(s, w=s.get('commit_waits', 0)) for s in stats], 'w', sat0, sat1)
    waited, _ = rate([dict(s, w=s.get('commit_wait_ms', 0) / 1000.0) for s in stats], 'w', sat0, sat1)
    # Share of each second the outbox's writer thread spent committing (1.0: the writer is the limit).
    busy = [dict(s, b=s.get('writer_busy_ms', 0) / 1000.0) for s in stats]
    writer_sat, _ = rate(busy, 'b', sat0, sat1)
    writer_alone = None
    # Drain alone: the stats intervals after the last replay ended, up to the last one that still
    # ended with a backlog (once the backlog runs out, the seconds say nothing about the drain's rate).
    alone = None
    if replay_end is not None:
        left = []
        for s in (s for s in stats if ts(s) >= replay_end):
            if s['outbox_rows'] + s['staged'] == 0:
                break
            left.append(s)
        if len(left) >= 2:
            alone = (left[-1]['acknowledged'] - left[0]['acknowledged']) / (ts(left[-1]) - ts(left[0]))
            alone_cpu = cpu_share(samples, ts(left[0]), ts(left[-1]))
            alone_broker = cpu_share(broker_samples, ts(left[0]), ts(left[-1]))
            alone_machine = cpu_share(machine_samples, ts(left[0]), ts(left[-1]))
            writer_alone, _ = rate(busy, 'b', ts(left[0]), ts(left[-1]))
    sat_evicted = [t for t in evicted_lines if start <= t <= (replay_end or sat1)]
    dur = (replay_end or sat1) - start
    peak_backlog = max((s['outbox_rows'] + s['staged'] for s in stats), default=0)
    last = stats[-1] if stats else {}
    result = {
        'name': args.name, 'buses': args.buses, 'frames_per_s_per_bus': args.rate, 'signals': args.signals,
        'max_rows': args.max_rows, 'seconds': args.seconds,
        'offered_readings_per_s': offered, 'read_readings_per_s': read, 'committed_per_s': committed,
        'committed_vs_offered': committed / offered if committed else None,
        'acked_per_s_saturated': acked_sat, 'acked_per_s_alone': alone,
        'drain_ratio': acked_sat / alone if acked_sat is not None and alone else None,
        'backlog_growth_per_s': growth, 'peak_backlog': peak_backlog, 'commit_waits_per_s': waits,
        'commit_wait_share': waited, 'writer_busy_saturated': writer_sat, 'writer_busy_alone': writer_alone,
        'replay_lag_s': (replay_end - start - args.seconds) if replay_end else None,
        'cpu_saturated': cpu_share(samples, sat0, sat1),
        'cpu_alone': alone_cpu if alone else None,
        'cpu_broker_saturated': cpu_share(broker_samples, sat0, sat1),
        'cpu_broker_alone': alone_broker if alone else None,
        'cpu_machine_saturated': cpu_share(machine_samples, sat0, sat1),
        'cpu_machine_alone': alone_machine if alone else None, 'cores': os.cpu_count(),
        'cpu_user_s': rusage.ru_utime, 'cpu_sys_s': rusage.ru_stime,
        'max_rss_mb': rusage.ru_maxrss / 1024,
        'rss_mb_samples_min_max': [min(r for _, r in rss_samples) / 1024, max(r for _, r in rss_samples) / 1024]
        if rss_samples else None,
        'evicted_lines': len(sat_evicted), 'evicted_lines_per_s': len(sat_evicted) / dur if dur > 0 else None,
        'evicted_rows': last.get('evicted'), 'exit_status': status,
    }
    # The room the cores leave: the drain alone costs outpost and broker cpu_drain cores; during the
    # saturation, ingest takes ingest_cpu of the machine's cores first (it must keep the offered rate).
    cpu_drain = (result['cpu_alone'] or 0) + (result['cpu_broker_alone'] or 0)
    result['ingest_cpu'] = args.ingest_cpu
    result['cpu_room_ratio'] = (min(1.0, (os.cpu_count() - args.ingest_cpu) / cpu_drain)
                                if args.ingest_cpu is not None and cpu_drain > 0 else None)
    # The same for the writer thread, which commits both the inserts and the drain's deletes.
    result['ingest_writer'] = args.ingest_writer
    result['writer_room_ratio'] = (min(1.0, (1.0 - args.ingest_writer) / writer_alone)
                                   if args.ingest_writer is not None and writer_alone else None)
    with open(w(args.name + '.result.json'), 'w') as f:
        json.dump(result, f, indent=1)

    fmt = lambda v, f='%.0f': '-' if v is None else f % v
    print('  offered %s readings/s (%d x %g frames/s x %d signals); read %s, committed %s readings/s: %s of offered%s'
          % (fmt(offered), args.buses, args.rate, args.signals, fmt(read), fmt(committed),
             fmt(result['committed_vs_offered'], '%.3f'),
             '' if result['committed_vs_offered'] is None else
             ('  ok' if result['committed_vs_offered'] >= 0.99 else '  BELOW 0.99')))
    if args.ingest_only:
        print('  ingest alone (broker away): CPU of outpost %s (its --ingest-cpu), of the machine %s of %d cores'
              % (fmt(result['cpu_saturated'], '%.2f'), fmt(result['cpu_machine_saturated'], '%.2f'), os.cpu_count()))
        print('  the writer thread committing: %s of the time (its --ingest-writer)' % fmt(writer_sat, '%.2f'))
        print('  RSS: max %.1f MB' % result['max_rss_mb'])
        return 0
    print('  acknowledged %s msgs/s during saturation, %s alone: ratio %s%s'
          % (fmt(acked_sat), fmt(alone), fmt(result['drain_ratio'], '%.2fx'),
             '  (the backlog left was drained within 2 s: raise --quota or --seconds)' if alone is None else
             ('  ok' if result['drain_ratio'] >= 0.8 else '  BELOW 0.8x')))
    print('  backlog growth %s rows/s during saturation (peak %d); replays ended %s s after their nominal end'
          % (fmt(growth), peak_backlog, fmt(result['replay_lag_s'], '%.1f')))
    print('  the io thread waited for the writer %s times/s during saturation (commit_waits), %s of the time'
          % (fmt(waits, '%.1f'), fmt(waited, '%.2f')))
    print('  the writer thread committing: %s of the time saturated, %s alone (writer_busy_ms)'
          % (fmt(writer_sat, '%.2f'), fmt(writer_alone, '%.2f')))
    print('  CPU of outpost: %s saturated, %s draining alone (1.0 = one core); user %.1f s, sys %.1f s'
          % (fmt(result['cpu_saturated'], '%.2f'), fmt(result['cpu_alone'], '%.2f'), rusage.ru_utime, rusage.ru_stime))
    print('  CPU of the broker: %s saturated, %s alone; of the machine: %s saturated, %s alone (of %d cores)'
          % (fmt(result['cpu_broker_saturated'], '%.2f'), fmt(result['cpu_broker_alone'], '%.2f'),
             fmt(result['cpu_machine_saturated'], '%.2f'), fmt(result['cpu_machine_alone'], '%.2f'), os.cpu_count()))
    if result['cpu_room_ratio'] is not None:
        print('  room the cores leave: (%d - %.2f ingest) / %.2f drain alone = %.2fx%s'
              % (os.cpu_count(), args.ingest_cpu, cpu_drain, result['cpu_room_ratio'],
                 '' if result['cpu_room_ratio'] >= 0.8 else '  (below 0.8x even with every core left to the drain)'))
    if result['writer_room_ratio'] is not None:
        print('  room the writer leaves: (1 - %.2f ingest) / %.2f drain alone = %.2fx%s'
              % (args.ingest_writer, writer_alone, result['writer_room_ratio'],
                 '' if result['writer_room_ratio'] >= 0.8 else '  (below 0.8x: the one writer bounds the ratio)'))
    print('  RSS: max %.1f MB%s (target <= 16)' % (
        result['max_rss_mb'],
        ', sampled %.1f-%.1f MB' % tuple(result['rss_mb_samples_min_max']) if rss_samples else ''))
    print('  outbox.evicted lines: %d in %.0f s = %s/s%s; rows evicted %s'
          % (len(sat_evicted), dur, fmt(result['evicted_lines_per_s'], '%.2f'),
             '' if not result['evicted_rows'] else ('  ok' if result['evicted_lines_per_s'] <= 1 else '  ABOVE 1/s'),
             last.get('evicted')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
