#include "broker.hpp"

#include <algorithm>
#include <csignal>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace outpost::test {

Broker::Broker(const TempDir& dir, int port, bool persistent, const std::string& secured_listener,
               const std::string& settings)
    : port_(port ? port : free_port()) {
    static int count = 0;
    const std::string name = "mosquitto-" + std::to_string(++count);
    config_ = dir.file(name + ".conf");
    log_ = dir.file(name + ".log");
    write_file(config_, std::string(secured_listener.empty() ? "" : "per_listener_settings true\n") +
                        "listener " + std::to_string(port_) + " 127.0.0.1\n"
                        "allow_anonymous true\n"
                        + (persistent ? "persistence true\npersistence_location " + dir.path().string() +
                                            "/\nautosave_interval 0\n"
                                      : std::string("persistence false\n")) +
                        // As root, mosquitto would drop to user mosquitto, who cannot read the
                        // test's directory (persistence, certificates, password file).
                        "user root\n" +
                        "max_queued_messages 0\n"
                        "log_type error\nlog_type warning\nlog_type notice\n" + settings + secured_listener);
    start();
}

TestPki make_test_pki(const TempDir& dir) {
    TestPki pki{dir.file("ca.crt"), dir.file("server.crt"), dir.file("server.key"), dir.file("other-ca.crt")};
    const auto log = dir.file("openssl.log");
    const auto openssl = [&](std::vector<std::string> args) {
        args.insert(args.begin(), "openssl");
        if (run(args, log) != 0) throw std::runtime_error("openssl failed: " + read_file(log));
    };
    for (const auto& [key, crt, cn] : {std::tuple{dir.file("ca.key"), pki.ca, "outpost test CA"},
                                       std::tuple{dir.file("other-ca.key"), pki.other_ca, "some other CA"}}) {
        openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", std::string("/CN=") + cn,
                 "-keyout", key, "-out", crt});
    }
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", pki.server_key, "-out",
             dir.file("server.csr")});
    write_file(dir.file("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    openssl({"x509", "-req", "-in", dir.file("server.csr"), "-CA", pki.ca, "-CAkey", dir.file("ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", dir.file("server.ext"), "-out", pki.server_cert});
    return pki;
}

Broker::~Broker() { process_.stop(); }

void Broker::start() {
    process_ = Process({"mosquitto", "-c", config_}, log_);
    if (!wait_for_port(port_, std::chrono::milliseconds(10000))) {
        throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_) + ": " + read_file(log_));
    }
}

void Broker::stop() { process_.stop(); }

void Broker::kill() {
    process_.signal(SIGKILL);
    process_.wait(std::chrono::milliseconds(5000));
}

void Broker::freeze() { process_.signal(SIGSTOP); }

void Broker::thaw() { process_.signal(SIGCONT); }

Subscriber::Subscriber(const TempDir& dir, int port, const std::string& filter, const std::string& name,
                       bool persistent)
    : out_(dir.file(name + ".out")) {
    std::vector<std::string> argv = {"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(port), "-q", "1", "-v",
                                     "-i", name + "-" + std::to_string(port), "-t", filter, "-t", "outpost-test/probe"};
    if (persistent) argv.push_back("-c");
    process_ = Process(argv, out_);
    const bool ready = wait_until(
        [&] {
            publish(port, "outpost-test/probe", "probe");
            return read_file(out_).find("outpost-test/probe") != std::string::npos;
        },
        std::chrono::milliseconds(10000));
    if (!ready) throw std::runtime_error("mosquitto_sub did not come up: " + read_file(out_));
}

Subscriber::~Subscriber() { process_.stop(); }

std::vector<Received> Subscriber::messages() const {
    std::vector<Received> out;
    std::istringstream in(read_file(out_));
    std::string line;
    while (std::getline(in, line)) {
        const auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        Received r;
        r.topic = line.substr(0, sp);
        if (r.topic == "outpost-test/probe") continue;
        r.payload = nlohmann::json::parse(line.substr(sp + 1), nullptr, false);
        if (r.payload.is_discarded()) r.payload = nullptr;
        out.push_back(std::move(r));
    }
    return out;
}

std::size_t Subscriber::line_count() const {
    const auto text = read_file(out_);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

bool Subscriber::wait_for_count(std::size_t n, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return messages().size() >= n; }, timeout);
}

void publish(int port, const std::string& topic, const std::string& payload) {
    TempDir scratch;
    run({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port), "-q", "1", "-t", topic, "-m", payload},
        scratch.file("pub.log"), std::chrono::milliseconds(5000));
}

}  // namespace outpost::test
