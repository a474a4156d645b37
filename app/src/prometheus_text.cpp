#include "prometheus_text.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace outpost::app {
namespace {

bool name_char(char c, bool first, bool colon) noexcept {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void append_escaped(std::string& out, std::string_view text, bool quotes) {
    for (const char c : text) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (quotes && c == '"') out += "\\\"";
        else out += c;
    }
}

std::string format_value(const std::variant<std::uint64_t, double>& v) {
    if (const auto* u = std::get_if<std::uint64_t>(&v)) return std::to_string(*u);
    const double d = std::get<double>(v);
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
}

}  // namespace

bool PrometheusText::valid_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!name_char(name[i], i == 0, true)) return false;
    }
    return true;
}

bool PrometheusText::valid_label_name(std::string_view name) noexcept {
    if (name.empty() || name.substr(0, 2) == "__") return false;  // __ is reserved for Prometheus
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!name_char(name[i], i == 0, false)) return false;
    }
    return true;
}

std::string PrometheusText::format_labels(const MetricLabels& labels) {
    if (labels.empty()) return {};
    std::string out = "{";
    for (const auto& [key, value] : labels) {
        if (!valid_label_name(key)) throw std::logic_error("invalid metric label name: " + key);
        if (out.size() > 1) out += ',';
        out += key;
        out += "=\"";
        append_escaped(out, value, true);
        out += '"';
    }
    return out + "}";
}

PrometheusText::Family& PrometheusText::family(std::string_view name, MetricType type, std::string_view help) {
    if (const auto it = index_.find(name); it != index_.end()) {
        auto& f = families_[it->second];
        if (f.type != type || f.help != help) {
            throw std::logic_error("metric family " + std::string(name) + " added twice with another type or help");
        }
        return f;
    }
    if (!valid_name(name)) throw std::logic_error("invalid metric name: " + std::string(name));
    if ((type == MetricType::counter) != ends_with(name, "_total")) {
        throw std::logic_error("a counter's name ends in _total, and only a counter's: " + std::string(name));
    }
    index_.emplace(std::string(name), families_.size());
    families_.push_back({std::string(name), type, std::string(help), {}});
    return families_.back();
}

void PrometheusText::add_sample(std::string_view name, MetricType type, std::string_view help,
                                const MetricLabels& labels, std::variant<std::uint64_t, double> value) {
    auto& f = family(name, type, help);
    auto formatted = format_labels(labels);
    for (const auto& s : f.samples) {
        // Prometheus rejects a whole scrape with one duplicate series in it.
        if (s.labels == formatted) throw std::logic_error("duplicate metric sample: " + f.name + formatted);
    }
    f.samples.push_back({std::move(formatted), value});
}

void PrometheusText::add(std::string_view name, MetricType type, std::string_view help, const MetricLabels& labels,
                         std::uint64_t value) {
    add_sample(name, type, help, labels, value);
}

void PrometheusText::add(std::string_view name, MetricType type, std::string_view help, const MetricLabels& labels,
                         double value) {
    add_sample(name, type, help, labels, value);
}

std::string PrometheusText::text() const {
    std::string out;
    out.reserve(families_.size() * 160);
    for (const auto& f : families_) {
        out += "# HELP ";
        out += f.name;
        out += ' ';
        append_escaped(out, f.help, false);
        out += "\n# TYPE ";
        out += f.name;
        out += f.type == MetricType::counter ? " counter\n" : " gauge\n";
        for (const auto& s : f.samples) {
            out += f.name;
            out += s.labels;
            out += ' ';
            out += format_value(s.value);
            out += '\n';
        }
    }
    return out;
}

}  // namespace outpost::app
