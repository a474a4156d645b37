#include "tls_context.hpp"

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace outpost::uplink {
namespace {

struct VerifyFailure {
    bool failed = false;
    long error = X509_V_OK;
    int depth = 0;
    std::string host;
};
thread_local VerifyFailure last_failure;

// OpenSSL calls this for every certificate of the chain and every problem; the first problem is
// the reason (later ones follow from it). The verdict stays OpenSSL's.
int record_verify_step(int preverify_ok, X509_STORE_CTX* store) {
    if (!preverify_ok && !last_failure.failed) {
        last_failure.failed = true;
        last_failure.error = X509_STORE_CTX_get_error(store);
        last_failure.depth = X509_STORE_CTX_get_error_depth(store);
        const auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
        const char* name = ssl ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : nullptr;
        last_failure.host = name ? name : "";
    }
    return preverify_ok;
}

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown OpenSSL error";
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    return text;
}

bool is_ip_address(const std::string& host) {
    in6_addr address{};
    return ::inet_pton(AF_INET, host.c_str(), &address) == 1 || ::inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

}  // namespace

ssl_ctx_st* make_tls_context(const TlsOptions& tls, const std::string& host, std::string& error) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        error = "cannot create an OpenSSL context: " + openssl_error();
        return nullptr;
    }
    const auto fail = [&](std::string what) {
        error = std::move(what) + ": " + openssl_error();
        SSL_CTX_free(ctx);
        return nullptr;
    };
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) != 1) {
        return fail("cannot load the CA file " + tls.ca_file);
    }
    if (!tls.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
            return fail("cannot load the client certificate " + tls.cert_file);
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
            return fail("cannot load the client key " + tls.key_file);
        }
        if (SSL_CTX_check_private_key(ctx) != 1) return fail("the client certificate and key do not match");
    }
    if (tls.verify_hostname) {
        X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int set = is_ip_address(host) ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                                            : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
        if (set != 1) return fail("cannot check the host name " + host);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &record_verify_step);
    return ctx;
}

void clear_tls_verify_failure() noexcept {
    last_failure.failed = false;
    last_failure.error = X509_V_OK;
    last_failure.depth = 0;
    last_failure.host.clear();
}

std::string tls_verify_failure() {
    const auto& f = last_failure;
    if (!f.failed) return {};
    if (f.error == X509_V_ERR_HOSTNAME_MISMATCH || f.error == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        return "the broker's certificate does not match the host name \"" + f.host +
               "\" (check the broker host or the certificate's subjectAltName)";
    }
    return "the broker's certificate failed verification: " + std::string(X509_verify_cert_error_string(f.error)) +
           " (X509 error " + std::to_string(f.error) + " at depth " + std::to_string(f.depth) + ")";
}

}  // namespace outpost::uplink
