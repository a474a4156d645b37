#pragma once
// A parser for the parts of a DBC file a gateway needs (Sans-I/O, never throws on content):
//   BO_ <id> <name>: <dlc> <sender>                 messages (bit 31 of the id marks 29-bit ids)
//   SG_ <name> [M|m<n>] : <start>|<len>@<1|0><+|-> (<factor>,<offset>) [<min>|<max>] "<unit>" <receivers>
//   VAL_ <id> <signal> <n> "<text>" ... ;           value tables
//   SIG_VALTYPE_ <id> <signal> : <1|2> ;            IEEE float (1) or double (2)
// Everything else (comments, attributes, nodes, environment variables) is read past. Problems
// are reported with their line number and the parse goes on with the next statement.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/mapping/mapping.hpp"

namespace outpost::mapping {

struct DbcSignal {
    std::string name;
    SignalSpec spec;
    std::string unit;
    std::optional<double> minimum;  // unset when the DBC says [0|0]
    std::optional<double> maximum;
    Multiplex multiplex = Multiplex::none;
    std::uint64_t mux_value = 0;
    std::map<std::int64_t, std::string> value_names;
    int line = 0;
};

struct DbcMessage {
    std::string name;
    std::uint32_t id = 0;
    bool extended = false;
    std::uint32_t length = 8;
    std::vector<DbcSignal> signals;
    int line = 0;
};

struct DbcError {
    int line = 0;
    std::string message;
};

struct DbcFile {
    std::vector<DbcMessage> messages;
    std::vector<DbcError> errors;

    const DbcMessage* find(std::string_view name) const;
};

DbcFile parse_dbc(std::string_view text);

}  // namespace outpost::mapping
