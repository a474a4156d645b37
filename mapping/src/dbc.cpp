#include "outpost/mapping/dbc.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>
#include <unordered_map>
#include <utility>

namespace outpost::mapping {
namespace {

constexpr std::uint32_t dbc_extended_flag = 0x80000000U;
constexpr std::uint32_t independent_signals_id = 0xC0000000U;  // Vector's pseudo-message

// A cursor over one statement's text.
class Cursor {
public:
    explicit Cursor(std::string_view s) : s_(s) {}

    void skip_space() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }
    bool done() {
        skip_space();
        return pos_ >= s_.size();
    }
    bool literal(char c) {
        skip_space();
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    bool word(std::string_view w) {
        skip_space();
        if (s_.substr(pos_, w.size()) == w) {
            pos_ += w.size();
            return true;
        }
        return false;
    }
    std::optional<std::string_view> identifier() {
        skip_space();
        const auto start = pos_;
        while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
        if (pos_ == start) return std::nullopt;
        return s_.substr(start, pos_ - start);
    }
    std::optional<std::uint64_t> unsigned_number() { return integer<std::uint64_t>(); }
    std::optional<std::int64_t> signed_number() { return integer<std::int64_t>(); }
    template <typename T>
    std::optional<T> integer() {
        skip_space();
        T v = 0;
        const auto [end, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), v);
        if (ec != std::errc{}) return std::nullopt;
        pos_ = static_cast<std::size_t>(end - s_.data());
        return v;
    }
    std::optional<double> real() {
        skip_space();
        if (pos_ < s_.size() && s_[pos_] == '+') ++pos_;
        double v = 0;
        const auto [end, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), v);
        if (ec != std::errc{}) return std::nullopt;
        pos_ = static_cast<std::size_t>(end - s_.data());
        return v;
    }
    // `<open> number <sep> number <close>`, as in (factor,offset) and [min|max].
    std::optional<std::pair<double, double>> real_pair(char open, char sep, char close) {
        if (!literal(open)) return std::nullopt;
        const auto first = real();
        if (!first || !literal(sep)) return std::nullopt;
        const auto second = real();
        if (!second || !literal(close)) return std::nullopt;
        return std::pair{*first, *second};
    }
    std::optional<std::string> quoted() {
        skip_space();
        if (pos_ >= s_.size() || s_[pos_] != '"') return std::nullopt;
        std::string out;
        for (++pos_; pos_ < s_.size(); ++pos_) {
            if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) {
                out += s_[++pos_];
            } else if (s_[pos_] == '"') {
                ++pos_;
                return out;
            } else {
                out += s_[pos_];
            }
        }
        return std::nullopt;
    }

private:
    std::string_view s_;
    std::size_t pos_ = 0;
};

void split_id(std::uint64_t raw, std::uint32_t& id, bool& extended) {
    extended = (raw & dbc_extended_flag) != 0;
    id = static_cast<std::uint32_t>(raw & 0x1FFFFFFFU);
}

// Lookups by message id and by signal name, kept beside the messages as they are parsed: a
// linear search per SG_ or VAL_ line made a message with 100k signals take minutes.
class DbcIndex {
public:
    void add_message(const DbcMessage& m, std::size_t index) {
        by_id_.emplace(key(m.id, m.extended), index);  // the first message with an id wins
        signals_.emplace_back();
    }
    // False if the message already has a signal of that name.
    bool add_signal(std::size_t message, const std::string& name, std::size_t index) {
        return signals_[message].emplace(name, index).second;
    }
    DbcMessage* message(std::vector<DbcMessage>& messages, std::uint64_t raw) const {
        std::uint32_t id = 0;
        bool extended = false;
        split_id(raw, id, extended);
        const auto it = by_id_.find(key(id, extended));
        return it == by_id_.end() ? nullptr : &messages[it->second];
    }
    DbcSignal* signal(std::vector<DbcMessage>& messages, DbcMessage& m, std::string_view name) const {
        const auto& names = signals_[static_cast<std::size_t>(&m - messages.data())];
        const auto it = names.find(std::string(name));
        return it == names.end() ? nullptr : &m.signals[it->second];
    }

private:
    static std::uint64_t key(std::uint32_t id, bool extended) { return (std::uint64_t{extended} << 32) | id; }
    std::unordered_map<std::uint64_t, std::size_t> by_id_;
    std::vector<std::unordered_map<std::string, std::size_t>> signals_;  // [message] name -> signal
};

// Statements that may run over several lines end with ';' outside quotes. Fed one line at a
// time, so a statement of many lines is scanned once, not once per line added.
class StatementEnd {
public:
    bool feed(std::string_view text) {
        for (const char ch : text) {
            if (escaped_) {
                escaped_ = false;
            } else if (ch == '\\' && in_quote_) {
                escaped_ = true;
            } else if (ch == '"') {
                in_quote_ = !in_quote_;
            } else if (ch == ';' && !in_quote_) {
                return true;
            }
        }
        return false;
    }

private:
    bool in_quote_ = false;
    bool escaped_ = false;
};

}  // namespace

const DbcMessage* DbcFile::find(std::string_view name) const {
    for (const auto& m : messages) {
        if (m.name == name) return &m;
    }
    return nullptr;
}

DbcFile parse_dbc(std::string_view text) {
    DbcFile dbc;
    DbcIndex index;
    DbcMessage* current = nullptr;
    bool skipping_independent = false;
    int line_no = 0;
    std::size_t pos = 0;
    auto error = [&](int line, std::string message) { dbc.errors.push_back({line, std::move(message)}); };
    const auto next_line = [&](std::string_view& line) {
        if (pos >= text.size()) return false;
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        return true;
    };

    std::string_view line;
    while (next_line(line)) {
        const int start_line = line_no;
        std::size_t first = 0;
        while (first < line.size() && std::isspace(static_cast<unsigned char>(line[first]))) ++first;
        const auto body = line.substr(first);
        const auto keyword = body.substr(0, body.find_first_of(" \t:"));

        if (keyword == "BO_") {
            Cursor c(body);
            c.word("BO_");
            const auto raw = c.unsigned_number();
            const auto name = c.identifier();
            const bool colon = c.literal(':');
            const auto length = c.unsigned_number();
            if (!raw || !name || !colon || !length) {
                error(start_line, "expected BO_ <id> <name>: <length> <sender>");
                current = nullptr;
                skipping_independent = false;
                continue;
            }
            skipping_independent = *raw == independent_signals_id;
            if (skipping_independent) {
                current = nullptr;
                continue;
            }
            if (*length > 64) error(start_line, "message length " + std::to_string(*length) + " is above 64 bytes");
            DbcMessage m;
            split_id(*raw, m.id, m.extended);
            if (!m.extended && m.id > 0x7FF) error(start_line, "standard id above 0x7FF (set bit 31 for 29-bit ids)");
            m.name = std::string(*name);
            m.length = static_cast<std::uint32_t>(*length);
            m.line = start_line;
            dbc.messages.push_back(std::move(m));
            current = &dbc.messages.back();
            index.add_message(*current, dbc.messages.size() - 1);
            continue;
        }
        if (keyword == "SG_") {
            if (skipping_independent) continue;
            if (!current) {
                error(start_line, "SG_ outside a message (no BO_ before it)");
                continue;
            }
            Cursor c(body);
            c.word("SG_");
            DbcSignal s;
            s.line = start_line;
            const auto name = c.identifier();
            if (!name) {
                error(start_line, "expected a signal name after SG_");
                continue;
            }
            s.name = std::string(*name);
            // Optional multiplex indicator before the colon: M, m<n>, m<n>M.
            if (!c.literal(':')) {
                const auto mux = c.identifier();
                if (!mux || !c.literal(':')) {
                    error(start_line, "expected ':' after the signal name (or a multiplex indicator M / m<n>)");
                    continue;
                }
                if (*mux == "M") {
                    s.multiplex = Multiplex::multiplexor;
                } else if (mux->size() > 1 && (*mux)[0] == 'm') {
                    auto digits = mux->substr(1);
                    if (digits.back() == 'M') {
                        error(start_line, "extended multiplexing (m<n>M) is not supported");
                        continue;
                    }
                    std::uint64_t v = 0;
                    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
                    if (ec != std::errc{} || end != digits.data() + digits.size()) {
                        error(start_line, "bad multiplex indicator \"" + std::string(*mux) + "\"");
                        continue;
                    }
                    s.multiplex = Multiplex::multiplexed;
                    s.mux_value = v;
                } else {
                    error(start_line, "bad multiplex indicator \"" + std::string(*mux) + "\"");
                    continue;
                }
            }
            const auto start = c.unsigned_number();
            const bool bar = c.literal('|');
            const auto length = c.unsigned_number();
            const bool at = c.literal('@');
            const bool intel = c.literal('1');
            const bool motorola = !intel && c.literal('0');
            const bool plus = c.literal('+');
            const bool minus = !plus && c.literal('-');
            if (!start || !bar || !length || !at || !(intel || motorola) || !(plus || minus)) {
                error(start_line, "expected <start>|<length>@<1|0><+|-> in signal " + s.name);
                continue;
            }
            if (*length == 0 || *length > 64 || *start > 511) {
                error(start_line, "signal " + s.name + ": length must be 1..64 and start bit 0..511");
                continue;
            }
            s.spec.start_bit = static_cast<std::uint16_t>(*start);
            s.spec.length = static_cast<std::uint16_t>(*length);
            s.spec.byte_order = intel ? ByteOrder::intel : ByteOrder::motorola;
            s.spec.type = minus ? ValueType::signed_int : ValueType::unsigned_int;
            const auto scale = c.real_pair('(', ',', ')');
            if (!scale) {
                error(start_line, "expected (<factor>,<offset>) in signal " + s.name);
                continue;
            }
            // from_chars reads "nan" and "inf": a value scaled by either is no reading at all.
            if (!std::isfinite(scale->first) || !std::isfinite(scale->second)) {
                error(start_line, "signal " + s.name + ": factor and offset must be finite numbers");
                continue;
            }
            s.spec.factor = scale->first;
            s.spec.offset = scale->second;
            const auto range = c.real_pair('[', '|', ']');
            if (!range) {
                error(start_line, "expected [<min>|<max>] in signal " + s.name);
                continue;
            }
            const auto [minimum, maximum] = *range;
            if (std::isnan(minimum) || std::isnan(maximum)) {
                error(start_line, "signal " + s.name + ": minimum and maximum must be numbers");
                continue;
            }
            if (!(minimum == 0 && maximum == 0)) {
                s.minimum = minimum;
                s.maximum = maximum;
            }
            const auto unit = c.quoted();
            if (!unit) {
                error(start_line, "expected a quoted unit in signal " + s.name);
                continue;
            }
            s.unit = *unit;
            if (bytes_needed(s.spec) > current->length) {
                error(start_line, "signal " + s.name + " needs " + std::to_string(bytes_needed(s.spec)) +
                                      " bytes but message " + current->name + " has " + std::to_string(current->length));
                continue;
            }
            if (!index.add_signal(static_cast<std::size_t>(current - dbc.messages.data()), s.name, current->signals.size())) {
                error(start_line, "message " + current->name + " already has a signal " + s.name);
                continue;
            }
            current->signals.push_back(std::move(s));
            continue;
        }
        if (keyword != "VAL_" && keyword != "SIG_VALTYPE_" && keyword != "CM_" && keyword.substr(0, 3) != "BA_" &&
            keyword != "VAL_TABLE_" && keyword != "EV_" && keyword != "SIG_GROUP_" && keyword != "BO_TX_BU_" &&
            keyword != "SG_MUL_VAL_") {
            current = keyword.empty() ? current : nullptr;  // a blank line keeps the message open
            continue;
        }
        // A keyword alone on its line is an entry of the NS_ (new symbols) list, not a statement.
        if (body.find_first_not_of(" \t\r", keyword.size()) == std::string_view::npos) continue;
        current = nullptr;
        // Collect the whole statement (it may span lines, quoted text included) up to its ';'.
        std::string statement(body);
        StatementEnd end;
        bool complete = end.feed(statement);
        while (!complete) {
            std::string_view more;
            if (!next_line(more)) {
                error(start_line, std::string(keyword) + " statement is not terminated by ';'");
                break;
            }
            statement += '\n';
            statement += more;
            complete = end.feed("\n") || end.feed(more);
        }
        if (keyword == "SG_MUL_VAL_") {
            error(start_line, "extended multiplexing (SG_MUL_VAL_) is not supported");
            continue;
        }
        if (keyword == "VAL_") {
            Cursor c(statement);
            c.word("VAL_");
            const auto raw = c.unsigned_number();
            const auto signal = c.identifier();
            if (!raw || !signal) continue;  // VAL_ <env var> ...: not ours
            auto* m = index.message(dbc.messages, *raw);
            auto* s = m ? index.signal(dbc.messages, *m, *signal) : nullptr;
            if (!s) {
                error(start_line, "VAL_ for unknown signal " + std::string(*signal));
                continue;
            }
            while (!c.literal(';')) {
                const auto v = c.signed_number();
                const auto name = c.quoted();
                if (!v || !name) {
                    error(start_line, "expected <value> \"<text>\" pairs in VAL_ for " + s->name);
                    break;
                }
                s->value_names[*v] = *name;
            }
        } else if (keyword == "SIG_VALTYPE_") {
            Cursor c(statement);
            c.word("SIG_VALTYPE_");
            const auto raw = c.unsigned_number();
            const auto signal = c.identifier();
            c.literal(':');
            const auto type = c.unsigned_number();
            auto* m = raw ? index.message(dbc.messages, *raw) : nullptr;
            auto* s = (m && signal) ? index.signal(dbc.messages, *m, *signal) : nullptr;
            if (!s || !type || (*type != 1 && *type != 2)) {
                error(start_line, "expected SIG_VALTYPE_ <id> <signal> : <1|2> ; for a known signal");
                continue;
            }
            const unsigned bits = *type == 1 ? 32 : 64;
            if (s->spec.length != bits) {
                error(start_line, "signal " + s->name + " is " + std::to_string(s->spec.length) + " bits; a " +
                                      (*type == 1 ? "float" : "double") + " needs " + std::to_string(bits));
                continue;
            }
            s->spec.type = *type == 1 ? ValueType::ieee_float : ValueType::ieee_double;
        }
    }
    for (const auto& m : dbc.messages) {
        int multiplexors = 0;
        bool multiplexed = false;
        for (const auto& s : m.signals) {
            multiplexors += s.multiplex == Multiplex::multiplexor;
            multiplexed = multiplexed || s.multiplex == Multiplex::multiplexed;
        }
        if (multiplexors > 1) error(m.line, "message " + m.name + " has more than one multiplexor");
        if (multiplexed && multiplexors == 0) error(m.line, "message " + m.name + " has multiplexed signals but no multiplexor");
    }
    return dbc;
}

}  // namespace outpost::mapping
