#!/usr/bin/python3
"""A third-party Modbus slave for the tests: Debian's pymodbus (3.0), serial RTU or TCP.

Every unit holds the same formula the tests check against (see modbus_values.hpp):
  holding[a] = (a * 257 + u * 13) & 0xFFFF      input[a] = (0x8000 + a * 3 + u) & 0xFFFF
  coil[a]    = (a + u) % 3 == 0                 discrete[a] = (a * u) % 5 in (1, 2)

usage: pymodbus_server.py serial PATH BAUD UNITS | tcp PORT UNITS | rtu-over-tcp PORT UNITS
UNITS is a comma-separated list of unit ids.
"""
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

SIZE = 3000


def unit_context(u):
    return ModbusSlaveContext(
        co=ModbusSequentialDataBlock(0, [(a + u) % 3 == 0 for a in range(SIZE)]),
        di=ModbusSequentialDataBlock(0, [(a * u) % 5 in (1, 2) for a in range(SIZE)]),
        hr=ModbusSequentialDataBlock(0, [(a * 257 + u * 13) & 0xFFFF for a in range(SIZE)]),
        ir=ModbusSequentialDataBlock(0, [(0x8000 + a * 3 + u) & 0xFFFF for a in range(SIZE)]),
        zero_mode=True)


def main():
    logging.basicConfig(level=logging.WARNING)
    mode = sys.argv[1]
    units = [int(u) for u in sys.argv[-1].split(",")]
    context = ModbusServerContext(slaves={u: unit_context(u) for u in units}, single=False)
    print("pymodbus server", mode, sys.argv[2], units, flush=True)
    if mode == "serial":
        StartSerialServer(context=context, framer=ModbusRtuFramer, port=sys.argv[2], baudrate=int(sys.argv[3]),
                          bytesize=8, parity="N", stopbits=1, timeout=0.005)
    elif mode == "tcp":
        StartTcpServer(context=context, framer=ModbusSocketFramer, address=("127.0.0.1", int(sys.argv[2])))
    elif mode == "rtu-over-tcp":
        StartTcpServer(context=context, framer=ModbusRtuFramer, address=("127.0.0.1", int(sys.argv[2])))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
