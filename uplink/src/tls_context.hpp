#pragma once
// The OpenSSL context of a TLS broker connection, built here rather than by libmosquitto so that a
// failed certificate check keeps its reason. libmosquitto reports every TLS failure as
// MOSQ_ERR_TLS ("A TLS error occurred."), clears OpenSSL's error queue and frees the connection
// before returning; its own verify callback rejects a wrong host name without an X509 error code.
// Here OpenSSL checks the chain and the host name itself (X509_VERIFY_PARAM), and a verify
// callback records the first problem in a thread-local record.
//
// Thread: the record is per thread. libmosquitto verifies inside the call that advances the
// handshake (the connect on the connector thread, or loop_read/loop_write on the io thread), so
// clearing the record before such a call and reading it after gives that call's verdict.
#include <string>

#include "outpost/uplink/uplink.hpp"

struct ssl_ctx_st;

namespace outpost::uplink {

// A new context (the caller owns one reference) that trusts `tls.ca_file`, presents the client
// certificate if one is configured, requires TLS 1.2 or later and, if `tls.verify_hostname`,
// checks that the certificate names `host` (a DNS name or an IP address). nullptr and `error`
// filled if a file cannot be loaded.
ssl_ctx_st* make_tls_context(const TlsOptions& tls, const std::string& host, std::string& error);

void clear_tls_verify_failure() noexcept;
// What the last certificate check on this thread found wrong, for a person: "the broker's
// certificate does not match the host name ..." or OpenSSL's verify result with its number and
// depth ("unable to get local issuer certificate (X509 error 20 at depth 1)"). Empty if the check
// passed or did not run.
std::string tls_verify_failure();

}  // namespace outpost::uplink
