// A third-party Modbus slave built from Debian's libmodbus for the tests, holding the values of
// modbus_values.hpp for its unit id.
//   libmodbus_server rtu PATH BAUD UNIT     RTU slave on a serial device (a pty)
//   libmodbus_server tcp PORT UNIT          Modbus TCP server on 127.0.0.1 (answers any unit id)
#include <modbus.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include "modbus_values.hpp"

namespace {

modbus_mapping_t* make_mapping(std::uint8_t unit) {
    constexpr int size = 3000;
    modbus_mapping_t* m = modbus_mapping_new(size, size, size, size);
    if (!m) return nullptr;
    for (int a = 0; a < size; ++a) {
        const auto addr = static_cast<std::uint32_t>(a);
        m->tab_bits[a] = outpost::test::coil_value(unit, addr) ? 1 : 0;
        m->tab_input_bits[a] = outpost::test::discrete_value(unit, addr) ? 1 : 0;
        m->tab_registers[a] = outpost::test::holding_value(unit, addr);
        m->tab_input_registers[a] = outpost::test::input_value(unit, addr);
    }
    return m;
}

int serve_rtu(const char* path, int baud, int unit) {
    modbus_t* ctx = modbus_new_rtu(path, baud, 'N', 8, 1);
    if (!ctx || modbus_set_slave(ctx, unit) != 0 || modbus_connect(ctx) != 0) {
        std::fprintf(stderr, "libmodbus_server: cannot open %s: %s\n", path, modbus_strerror(errno));
        return 1;
    }
    modbus_mapping_t* mapping = make_mapping(static_cast<std::uint8_t>(unit));
    std::printf("libmodbus rtu server on %s unit %d\n", path, unit);
    std::fflush(stdout);
    std::uint8_t query[MODBUS_RTU_MAX_ADU_LENGTH];
    for (;;) {
        const int rc = modbus_receive(ctx, query);
        if (rc > 0) {
            modbus_reply(ctx, query, rc, mapping);
        } else if (rc == -1 && errno != EMBBADCRC && errno != EMBBADDATA && errno != ETIMEDOUT) {
            if (errno == EIO || errno == EBADF) break;  // the line is gone
        }
    }
    modbus_mapping_free(mapping);
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}

int serve_tcp(int port, int unit) {
    modbus_t* ctx = modbus_new_tcp("127.0.0.1", port);
    if (!ctx) return 1;
    int server = modbus_tcp_listen(ctx, 4);
    if (server < 0) {
        std::fprintf(stderr, "libmodbus_server: cannot listen on %d: %s\n", port, modbus_strerror(errno));
        return 1;
    }
    modbus_mapping_t* mapping = make_mapping(static_cast<std::uint8_t>(unit));
    std::printf("libmodbus tcp server on %d\n", port);
    std::fflush(stdout);
    std::uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    for (;;) {
        if (modbus_tcp_accept(ctx, &server) < 0) continue;
        for (;;) {
            const int rc = modbus_receive(ctx, query);
            if (rc > 0) {
                modbus_reply(ctx, query, rc, mapping);
            } else if (rc == -1) {
                break;  // the client went away
            }
        }
        ::close(modbus_get_socket(ctx));
        modbus_set_socket(ctx, -1);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string(argv[1]) == "rtu") return serve_rtu(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
    if (argc == 4 && std::string(argv[1]) == "tcp") return serve_tcp(std::atoi(argv[2]), std::atoi(argv[3]));
    std::fprintf(stderr, "usage: libmodbus_server rtu PATH BAUD UNIT | tcp PORT UNIT\n");
    return 2;
}
