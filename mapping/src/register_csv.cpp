#include "outpost/mapping/register_csv.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <utility>

namespace outpost::mapping {
namespace {

enum class Column { name, address, table, type, word_order, factor, offset, unit, description, length, bit, min, max };
constexpr std::size_t column_count = 13;

constexpr std::pair<std::string_view, Column> column_names[] = {
    {"name", Column::name}, {"registername", Column::name}, {"tag", Column::name},
    {"signal", Column::name}, {"variable", Column::name}, {"parameter", Column::name}, {"point", Column::name},
    {"address", Column::address}, {"addr", Column::address}, {"registeraddress", Column::address},
    {"start", Column::address}, {"startaddress", Column::address}, {"reg", Column::address},
    {"register", Column::address}, {"registernumber", Column::address}, {"regno", Column::address},
    {"table", Column::table}, {"function", Column::table}, {"functioncode", Column::table}, {"fc", Column::table},
    {"area", Column::table}, {"objecttype", Column::table}, {"registertype", Column::table},
    {"accesstype", Column::table},
    {"type", Column::type}, {"datatype", Column::type}, {"format", Column::type}, {"valuetype", Column::type},
    {"wordorder", Column::word_order}, {"byteorder", Column::word_order}, {"order", Column::word_order},
    {"endianness", Column::word_order}, {"endian", Column::word_order}, {"swap", Column::word_order},
    {"factor", Column::factor}, {"scale", Column::factor}, {"scaling", Column::factor}, {"gain", Column::factor},
    {"multiplier", Column::factor}, {"resolution", Column::factor},
    {"offset", Column::offset},
    {"unit", Column::unit}, {"units", Column::unit}, {"uom", Column::unit}, {"engunit", Column::unit},
    {"description", Column::description}, {"desc", Column::description}, {"comment", Column::description},
    {"comments", Column::description}, {"remark", Column::description}, {"remarks", Column::description},
    {"info", Column::description},
    {"length", Column::length}, {"len", Column::length}, {"size", Column::length}, {"registers", Column::length},
    {"count", Column::length}, {"words", Column::length}, {"quantity", Column::length},
    {"bit", Column::bit}, {"bitindex", Column::bit}, {"bitmaskbit", Column::bit},
    {"min", Column::min}, {"minimum", Column::min}, {"max", Column::max}, {"maximum", Column::max},
};

std::optional<Column> column_of(std::string_view header) {
    const auto cut = header.find_first_of("([");
    std::string key;
    for (const char c : header.substr(0, cut)) {
        if (c == '_' || c == '-' || c == ' ' || c == '\t' || c == '.') continue;
        key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    for (const auto& [k, v] : column_names) {
        if (k == key) return v;
    }
    return std::nullopt;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

struct Record {
    int line = 0;
    std::vector<std::string> fields;
};

// Cuts CSV records one at a time. Quoted cells may span lines; a record longer than the limit is
// reported and skipped up to the end of its physical line.
class RecordReader {
public:
    RecordReader(std::string_view text, char separator) : text_(text), separator_(separator) {}

    // False at the end. On a problem, `error` is set and the record is to be skipped.
    bool next(Record& record, std::string& error) {
        error.clear();
        record.fields.clear();
        if (pos_ >= text_.size()) return false;
        record.line = line_;
        const std::size_t start = pos_;
        std::string field;
        bool quoted = false;     // this cell started with a quote
        bool in_quotes = false;  // inside the quotes now
        while (pos_ < text_.size()) {
            if (pos_ - start > max_csv_record_bytes) {
                error = "longer than " + std::to_string(max_csv_record_bytes) + " bytes";
                skip_line();
                return true;
            }
            const char c = text_[pos_];
            if (in_quotes) {
                if (c == '"') {
                    if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
                        field += '"';
                        pos_ += 2;
                        continue;
                    }
                    in_quotes = false;
                } else {
                    if (c == '\n') ++line_;
                    if (c != '\r') field += c;
                }
                ++pos_;
                continue;
            }
            ++pos_;
            if (c == separator_) {
                push(record, field);
                quoted = false;
            } else if (c == '\n') {
                ++line_;
                push(record, field);
                return true;
            } else if (c == '\r') {
                // CRLF: the '\n' ends the record.
            } else if (c == '"' && !quoted && trim(field).empty()) {
                quoted = true;
                in_quotes = true;
                field.clear();
            } else {
                field += c;
            }
        }
        if (in_quotes) {
            error = "a quoted cell is never closed";
            return true;
        }
        push(record, field);
        return true;
    }

private:
    static void push(Record& record, std::string& field) {
        record.fields.emplace_back(trim(field));
        field.clear();
    }
    // To the end of the physical line; an open quote is abandoned rather than followed.
    void skip_line() {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
        if (pos_ < text_.size()) {
            ++pos_;
            ++line_;
        }
    }

    std::string_view text_;
    char separator_;
    std::size_t pos_ = 0;
    int line_ = 1;
};

// The separator the header line uses most, outside quotes.
char detect_separator(std::string_view text) {
    std::size_t commas = 0, semicolons = 0, tabs = 0;
    bool in_quotes = false;
    for (std::size_t i = 0; i < text.size() && i < max_csv_record_bytes; ++i) {
        const char c = text[i];
        if (c == '"') in_quotes = !in_quotes;
        if (in_quotes) continue;
        if (c == '\n') break;
        commas += c == ',';
        semicolons += c == ';';
        tabs += c == '\t';
    }
    if (semicolons > commas && semicolons >= tabs) return ';';
    if (tabs > commas && tabs > semicolons) return '\t';
    return ',';
}

bool skippable(const Record& r) {
    if (r.fields.empty()) return true;
    if (!r.fields[0].empty() && r.fields[0][0] == '#') return true;
    return std::all_of(r.fields.begin(), r.fields.end(), [](const std::string& f) { return f.empty(); });
}

std::optional<std::int64_t> parse_integer(std::string_view s) {
    int base = 10;
    bool negative = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s.remove_prefix(2);
        base = 16;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return negative ? -v : v;
}

std::optional<double> parse_number(std::string text, char separator) {
    if (separator != ',' && text.find('.') == std::string::npos && std::count(text.begin(), text.end(), ',') == 1) {
        std::replace(text.begin(), text.end(), ',', '.');
    }
    std::string_view s = text;
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

class Parser {
public:
    Parser(std::string_view text, const RegisterCsvOptions& options) : text_(text), options_(options) {}

    RegisterCsv run() {
        if (text_.size() > max_csv_bytes) {
            error(0, "", "larger than " + std::to_string(max_csv_bytes) + " bytes: not a register list");
            return std::move(out_);
        }
        if (const auto nul = text_.find('\0'); nul != std::string_view::npos) {
            const auto line = 1 + std::count(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(nul), '\n');
            error(static_cast<int>(line), "", "contains a NUL byte: not a text file");
            return std::move(out_);
        }
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
        separator_ = detect_separator(skip_comments(text_));
        RecordReader reader(text_, separator_);
        Record record;
        std::string problem;
        bool have_header = false;
        while (!stopped() && reader.next(record, problem)) {
            if (!problem.empty()) {
                error(record.line, "", problem);
                continue;
            }
            if (skippable(record)) continue;
            if (!have_header) {
                have_header = true;
                if (!read_header(record)) return std::move(out_);
                continue;
            }
            read_row(record);
        }
        if (!have_header && out_.errors.empty()) error(0, "", "no header line (name, address, table, type, ...)");
        return std::move(out_);
    }

private:
    // The text from the first line that is neither blank nor a comment (for separator detection).
    static std::string_view skip_comments(std::string_view text) {
        while (!text.empty()) {
            const auto eol = text.find('\n');
            const auto line = trim(text.substr(0, eol));
            if (!line.empty() && line != "\r" && line[0] != '#') return text;
            if (eol == std::string_view::npos) return {};
            text.remove_prefix(eol + 1);
        }
        return text;
    }

    bool stopped() const { return out_.errors.size() >= max_csv_errors; }

    void error(int line, std::string column, std::string message) {
        if (out_.errors.size() + 1 == max_csv_errors) {
            out_.errors.push_back({line, "", "too many problems; the rest of the file is not checked"});
            return;
        }
        if (out_.errors.size() < max_csv_errors) out_.errors.push_back({line, std::move(column), std::move(message)});
    }

    bool read_header(const Record& record) {
        header_line_ = record.line;
        headers_ = record.fields;
        for (std::size_t i = 0; i < record.fields.size(); ++i) {
            const auto column = column_of(record.fields[i]);
            if (!column) continue;  // a column this parser has no use for (access, default value, ...)
            const auto index = static_cast<std::size_t>(*column);
            if (where_[index]) {
                error(record.line, record.fields[i],
                      "a second column for the same thing (also \"" + headers_[*where_[index]] + "\")");
                continue;
            }
            where_[index] = i;
        }
        bool ok = true;
        if (!where_[static_cast<std::size_t>(Column::name)]) {
            error(record.line, "", "the header has no name column (name, register, tag, ...)");
            ok = false;
        }
        if (!where_[static_cast<std::size_t>(Column::address)]) {
            error(record.line, "", "the header has no address column (address, addr, start, ...)");
            ok = false;
        }
        if (!where_[static_cast<std::size_t>(Column::table)] && !options_.default_table) {
            error(record.line, "",
                  "the header has no table column (table, function, fc, ...) and the import gives no \"table\"");
            ok = false;
        }
        return ok;
    }

    // The cell of `column` in this row, empty when the list has no such column or the row ends early.
    std::string_view cell(const Record& r, Column column) const {
        const auto& w = where_[static_cast<std::size_t>(column)];
        if (!w || *w >= r.fields.size()) return {};
        return r.fields[*w];
    }
    std::string header(Column column) const {
        const auto& w = where_[static_cast<std::size_t>(column)];
        return w ? headers_[*w] : std::string();
    }

    void read_row(const Record& r) {
        if (r.fields.size() > headers_.size()) {
            error(r.line, "", std::to_string(r.fields.size()) + " cells but the header (line " +
                                  std::to_string(header_line_) + ") has " + std::to_string(headers_.size()) +
                                  " (an unquoted separator in a cell?)");
            return;
        }
        const auto errors_before = out_.errors.size();
        const auto bad = [&](Column c, std::string message) { error(r.line, header(c), std::move(message)); };
        CsvRegister reg;
        reg.line = r.line;
        reg.name = std::string(cell(r, Column::name));
        if (reg.name.empty()) bad(Column::name, "the name is empty");

        const auto table_text = cell(r, Column::table);
        if (table_text.empty()) {
            if (options_.default_table) reg.spec.table = *options_.default_table;
            else bad(Column::table, "the table is empty");
        } else if (const auto t = parse_table(table_text)) {
            reg.spec.table = *t;
        } else {
            bad(Column::table, unknown_table_message(table_text));
        }

        const auto address_text = cell(r, Column::address);
        if (const auto a = parse_integer(address_text)) {
            const auto address = *a + options_.address_offset;
            if (address < 0 || address > 65535) {
                bad(Column::address, std::string(address_text) +
                                         (options_.address_offset ? " with the import's address_offset " +
                                                                        std::to_string(options_.address_offset)
                                                                  : std::string()) +
                                         " is outside 0..65535");
            } else {
                reg.spec.address = static_cast<std::uint16_t>(address);
            }
        } else {
            bad(Column::address, "\"" + std::string(address_text) + "\" is not an address (decimal or 0x-hex)");
        }

        const auto type_text = cell(r, Column::type);
        if (type_text.empty()) {
            reg.spec.type = core::is_bit_table(reg.spec.table) ? RegisterType::boolean : RegisterType::u16;
        } else if (const auto t = parse_register_type(type_text)) {
            reg.spec.type = *t;
        } else {
            bad(Column::type, unknown_type_message(type_text));
        }
        if (const auto o = cell(r, Column::word_order); !o.empty() && !core::is_bit_table(reg.spec.table)) {
            if (const auto order = parse_word_order(o)) reg.spec.order = *order;
            else bad(Column::word_order, unknown_word_order_message(o));
        }
        const auto number = [&](Column c, double fallback) -> double {
            const auto text = cell(r, c);
            if (text.empty()) return fallback;
            if (const auto v = parse_number(std::string(text), separator_)) return *v;
            // Appended rather than concatenated: GCC 12's -Wrestrict misfires on "..." + std::string at -O3.
            std::string message = "\"";
            message.append(text);
            message += "\" is not a number";
            bad(c, message);
            return fallback;
        };
        reg.spec.factor = number(Column::factor, 1.0);
        reg.spec.offset = number(Column::offset, 0.0);
        if (!cell(r, Column::min).empty()) reg.minimum = number(Column::min, 0);
        if (!cell(r, Column::max).empty()) reg.maximum = number(Column::max, 0);
        if (reg.minimum && reg.maximum && *reg.minimum > *reg.maximum) bad(Column::max, "is below min");
        // Lists often give a length for every row (1 for a u16, 2 for a float): only strings use it.
        if (reg.spec.type == RegisterType::string) {
            const auto len = cell(r, Column::length);
            const auto n = parse_integer(len);
            if (len.empty()) bad(Column::length, "a string needs its length in registers (a length column)");
            else if (!n || *n < 1 || *n > 125) bad(Column::length, "a string is 1..125 registers long, not \"" + std::string(len) + "\"");
            else reg.spec.length = static_cast<std::uint16_t>(*n);
        }
        if (const auto b = cell(r, Column::bit); !b.empty()) {
            const auto n = parse_integer(b);
            if (!n || *n < 0 || *n > 63) bad(Column::bit, "\"" + std::string(b) + "\" is not a bit index (0..63)");
            else reg.spec.bit = static_cast<std::int8_t>(*n);
            // "bit" with no type: a flag in a u16.
            if (type_text.empty() && !core::is_bit_table(reg.spec.table)) reg.spec.type = RegisterType::u16;
        }
        reg.unit = std::string(cell(r, Column::unit));
        if (reg.unit.find_first_of("\"\\") != std::string::npos ||
            std::any_of(reg.unit.begin(), reg.unit.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
            bad(Column::unit, "must not contain quotes, backslashes or control characters");
        }
        reg.description = std::string(cell(r, Column::description));
        if (reg.spec.type == RegisterType::string && (reg.minimum || reg.maximum)) {
            bad(Column::min, "a string has no range");
        }
        // Names count even on rows with other problems, so a duplicate is caught either way.
        if (!reg.name.empty()) {
            const auto [first, inserted] = names_.emplace(reg.name, r.line);
            if (!inserted) {
                bad(Column::name, "another register is named \"" + reg.name + "\" (line " +
                                      std::to_string(first->second) + ")");
            }
        }
        if (out_.errors.size() != errors_before) return;
        for (const auto& p : check_register_spec(reg.spec)) {
            error(r.line, header_for(p.field), p.message);
        }
        if (out_.errors.size() != errors_before) return;
        out_.registers.push_back(std::move(reg));
    }

    std::string header_for(std::string_view field) const {
        const auto c = column_of(field);
        return c ? header(*c) : std::string(field);
    }

    std::string_view text_;
    const RegisterCsvOptions& options_;
    char separator_ = ',';
    int header_line_ = 0;
    std::vector<std::string> headers_;
    std::optional<std::size_t> where_[column_count];
    std::map<std::string, int> names_;  // name -> line of its first row
    RegisterCsv out_;
};

}  // namespace

const CsvRegister* RegisterCsv::find(std::string_view name) const {
    for (const auto& r : registers) {
        if (r.name == name) return &r;
    }
    return nullptr;
}

RegisterCsv parse_register_csv(std::string_view text, const RegisterCsvOptions& options) {
    return Parser(text, options).run();
}

RegisterCsv read_register_csv(const std::string& path, const RegisterCsvOptions& options) {
    const auto file = core::read_file_bounded(path, core::limits::csv_file);
    if (!file) {
        RegisterCsv failed;
        failed.errors.push_back({0, "", file.reason});
        return failed;
    }
    return parse_register_csv(file.text, options);
}

}  // namespace outpost::mapping
