// OpenSandboxWindow: a contact writes to a sandbox worker so that free-form
// messages to it are accepted. Outside WhatsApp's 24-hour customer-service
// window only templates may be sent (POST /api/messages answers 400
// invalid_field otherwise), and on the sandbox a number "writes" through
// POST /api/sandbox/inbound, which the worker processes asynchronously.
#ifndef DYNOGUARD_TESTS_SUPPORT_SANDBOX_CONTACT_H_
#define DYNOGUARD_TESTS_SUPPORT_SANDBOX_CONTACT_H_

#include <httplib.h>

#include <chrono>
#include <string>

namespace dynoguard::testing {

// Posts a simulated inbound text from `wa_id` (digits) and waits until
// GET /api/chats/{wa_id}/messages shows the window open ("windowOpenUntil" a
// number). `headers` go with both requests (e.g. Authorization: Bearer <key>
// when the worker has an API_KEY). False when the inbound is not answered 202
// or the window is still closed after `timeout`. The window is durable
// (DATA_DIR/inbound.db): it stays open across a worker restart.
bool OpenSandboxWindow(
    httplib::Client& client, const std::string& wa_id,
    const httplib::Headers& headers = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// True when GET /api/chats/{wa_id}/messages answers 200 with a numeric
// "windowOpenUntil".
bool SandboxWindowOpen(httplib::Client& client, const std::string& wa_id,
                       const httplib::Headers& headers = {});

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_SANDBOX_CONTACT_H_
