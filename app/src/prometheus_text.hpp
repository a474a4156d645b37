#pragma once
// The Prometheus text exposition format (version 0.0.4), Sans-I/O: metric families are added
// with their samples, text() writes them, each family once with its HELP and TYPE lines however
// the samples were interleaved. Names, label names and duplicate series are checked (a programming
// error: std::logic_error); label values and help texts are escaped.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace outpost::app {

enum class MetricType { counter, gauge };

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class PrometheusText {
public:
    // Adds one sample to the family `name` (created with `type` and `help` the first time). A
    // counter's name ends in `_total`; the same family with another type or help is a logic_error.
    void add(std::string_view name, MetricType type, std::string_view help, const MetricLabels& labels,
             std::uint64_t value);
    void add(std::string_view name, MetricType type, std::string_view help, const MetricLabels& labels,
             double value);
    // Shorthands for samples without labels.
    void counter(std::string_view name, std::string_view help, std::uint64_t value) { add(name, MetricType::counter, help, {}, value); }
    void gauge(std::string_view name, std::string_view help, double value) { add(name, MetricType::gauge, help, {}, value); }

    std::string text() const;
    std::size_t families() const noexcept { return families_.size(); }

    static bool valid_name(std::string_view name) noexcept;
    static bool valid_label_name(std::string_view name) noexcept;

private:
    struct Sample {
        std::string labels;  // already formatted: {a="b",c="d"} or empty
        std::variant<std::uint64_t, double> value;
    };
    struct Family {
        std::string name;
        MetricType type;
        std::string help;
        std::vector<Sample> samples;
    };
    Family& family(std::string_view name, MetricType type, std::string_view help);
    void add_sample(std::string_view name, MetricType type, std::string_view help, const MetricLabels& labels,
                    std::variant<std::uint64_t, double> value);
    static std::string format_labels(const MetricLabels& labels);

    std::vector<Family> families_;
    std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace outpost::app
