#!/usr/bin/python3
"""Simulated Modbus RTU devices for the demo (tools/demo.sh) and the decode fixture: a PCS (unit 1)
and a grid meter (unit 2) on one serial line, served by Debian's pymodbus (python3-pymodbus 3.0,
for /usr/bin/python3) with the register layout of configs/demo/modbus_mapping.json (the same as
configs/modbus-example/mapping.json). The values change over time like a PCS following a power
set-point; with --frozen they stay at their t=0 values.

usage: modbus_sim.py serve PORT [--baud 9600] [--parity N] [--frozen]
       modbus_sim.py capture PORT_SLAVE PORT_MASTER OUT     (writes a transcript; see below)

`capture` starts the devices on PORT_SLAVE (frozen, then moved on one step per poll cycle), plays a
master on PORT_MASTER (one end each of a socat pty pair) and writes what went over the line as a
transcript for `outpost decode --modbus`: one frame a line with its timestamp, tx/rx.
"""
import math
import struct
import sys
import threading
import time

PCS, METER = 1, 2
SIZE = 128  # registers and bits each table holds; reads beyond answer illegal_data_address


def words_i32_cdab(v):
    v &= 0xFFFFFFFF
    return [v & 0xFFFF, v >> 16]


def words_f32(v):
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [hi, lo]


def words_f64(v):
    return list(struct.unpack(">HHHH", struct.pack(">d", v)))


def words_string(text, registers):
    raw = text.encode("ascii").ljust(2 * registers, b"\0")
    return [raw[2 * i] << 8 | raw[2 * i + 1] for i in range(registers)]


def pcs_values(t):
    """holding, input, coil values of the PCS at time t (seconds)."""
    power = 250.0 + 150.0 * math.sin(t / 6.0)        # kW, discharge positive
    holding = {
        0: 2,                                          # state: running
        1: 0b10 if int(t) % 20 >= 17 else 0,           # fault word: a grid alarm now and then
        10: None, 12: None,                            # ac power, reactive power (i32 CDAB, 0.1)
        14: round(5000 + 4 * math.sin(t / 3.0)),       # grid frequency, 0.01 Hz
        15: round(7680 - 2 * (power / 10.0)),          # dc voltage, 0.1 V
        16: round(power * 1000.0 / 768.0 * 10) & 0xFFFF,  # dc current, 0.1 A (i16)
        17: round(453 + 10 * math.sin(t / 10.0)),      # igbt temperature, 0.1 degC
    }
    regs = {a: v for a, v in holding.items() if v is not None}
    regs.update(dict(zip((10, 11), words_i32_cdab(round(power * 10)))))
    regs.update(dict(zip((12, 13), words_i32_cdab(-125))))
    inputs = {}
    inputs.update(dict(zip((20, 21), words_i32_cdab(123456 + int(t // 10)))))   # energy charged, kWh
    inputs.update(dict(zip((22, 23), words_i32_cdab(117890 + int(t // 12)))))   # energy discharged
    inputs.update(dict(zip(range(100, 108), words_string("PCS-500K", 8))))       # model
    inputs.update(dict(zip(range(108, 116), words_string("SN20240117", 8))))     # serial number
    return regs, inputs, {0: True}


def meter_values(t):
    inputs = {}
    for i, v in enumerate((230.1 + math.sin(t), 229.8 + math.sin(t + 2), 231.0 + math.sin(t + 4),
                           361.2 + 20 * math.sin(t / 6.0), 360.5 + 20 * math.sin(t / 6.0),
                           362.0 + 20 * math.sin(t / 6.0), 250000.0 + 150000.0 * math.sin(t / 6.0))):
        inputs.update(dict(zip((2 * i, 2 * i + 1), words_f32(v))))
    inputs.update(dict(zip((70, 71), words_f32(50.0 + 0.04 * math.sin(t / 3.0)))))
    inputs.update(dict(zip(range(72, 76), words_f64(98765.4321 + t / 100.0))))
    inputs.update(dict(zip(range(76, 80), words_f64(12345.678))))
    return {}, inputs, {}


def make_context():
    from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
    def unit():
        return ModbusSlaveContext(co=ModbusSequentialDataBlock(0, [False] * SIZE),
                                  di=ModbusSequentialDataBlock(0, [False] * SIZE),
                                  hr=ModbusSequentialDataBlock(0, [0] * SIZE),
                                  ir=ModbusSequentialDataBlock(0, [0] * SIZE), zero_mode=True)
    return ModbusServerContext(slaves={PCS: unit(), METER: unit()}, single=False)


def update(context, t):
    for u, values in ((PCS, pcs_values(t)), (METER, meter_values(t))):
        for fc, table in zip((3, 4, 1), values):
            for address, value in table.items():
                context[u].setValues(fc, address, [value])


def serve(port, baud, parity, frozen, step=None):
    """Runs the devices on `port` until killed. `step`: a callable giving t (capture mode)."""
    from pymodbus.server import StartSerialServer
    from pymodbus.transaction import ModbusRtuFramer
    context = make_context()
    update(context, 0.0)
    start = time.monotonic()

    def tick():
        while True:
            time.sleep(0.25)
            update(context, step() if step else time.monotonic() - start)

    if not frozen:
        threading.Thread(target=tick, daemon=True).start()
    print("modbus_sim: PCS (unit 1) and meter (unit 2) on", port, flush=True)
    StartSerialServer(context=context, framer=ModbusRtuFramer, port=port, baudrate=baud, bytesize=8,
                      parity=parity, stopbits=1, timeout=0.005, ignore_missing_slaves=True)


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes((crc & 0xFF, crc >> 8))


def capture(slave_port, master_port, out_path):
    """A master polling the devices as `outpost run` would for configs/modbus-example, 3 cycles."""
    import serial
    cycle = [0]
    threading.Thread(target=serve, args=(slave_port, 9600, "N", False, lambda: cycle[0] * 1.0),
                     daemon=True).start()
    time.sleep(1.0)
    line = serial.Serial(master_port, 9600, timeout=0.5)
    requests = [
        (PCS, 3, 0, 18),     # state .. igbt_temperature, gaps read across
        (PCS, 1, 0, 1),      # remote_enabled
        (PCS, 4, 20, 4),     # energy counters
        (PCS, 4, 100, 16),   # model, serial number
        (METER, 4, 0, 14),   # voltages, currents, active power
        (METER, 4, 70, 10),  # frequency, energy counters
    ]
    base = 1700000000.0
    with open(out_path, "w") as out:
        out.write("# Captured from tools/modbus_sim.py (Debian's pymodbus as the PCS and the meter of\n"
                  "# configs/modbus-example) over a socat pty pair: three poll cycles one second apart,\n"
                  "# then a read past the meter's last register (an exception) and a unit nobody answers.\n")
        for c in range(3):
            cycle[0] = c
            time.sleep(0.4)  # the simulator picks up the new cycle's values
            extra = [(METER, 4, 200, 2), (9, 3, 0, 2)] if c == 2 else []
            offset = 0.0
            for unit, fc, address, count in requests + extra:
                frame = bytes((unit, fc)) + struct.pack(">HH", address, count)
                frame += crc16(frame)
                line.reset_input_buffer()
                line.write(frame)
                ts = base + c + offset
                out.write("(%.6f) tx %s\n" % (ts, frame.hex(" ").upper()))
                answer = read_response(line)
                offset += 0.02
                if answer:
                    out.write("(%.6f) rx %s\n" % (base + c + offset, answer.hex(" ").upper()))
                offset += 0.01
    print("wrote", out_path)


def read_response(line):
    head = line.read(3)
    if len(head) < 3:
        return head
    if head[1] & 0x80:
        return head + line.read(2)
    return head + line.read(head[2] + 2)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        args = sys.argv[3:]
        baud = int(args[args.index("--baud") + 1]) if "--baud" in args else 9600
        parity = args[args.index("--parity") + 1] if "--parity" in args else "N"
        serve(sys.argv[2], baud, parity, "--frozen" in args)
    elif len(sys.argv) == 5 and sys.argv[1] == "capture":
        capture(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
