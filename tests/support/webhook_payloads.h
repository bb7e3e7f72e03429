// Builders of Meta-shaped WhatsApp Cloud API webhook bodies for tests:
//   {"object":"whatsapp_business_account","entry":[{"id":WABA,"changes":[
//     {"field":"messages","value":{"messaging_product":"whatsapp",
//      "metadata":{…},"contacts":[…],"messages":[…]|"statuses":[…]|
//      "errors":[…]}}]}]}
// Each builder returns compact JSON text; compose them into changes, entries
// and batches. SignatureHeader signs a body as Meta does. Written from Meta's
// webhook reference (messages, statuses, errors), not from our parser.
#ifndef DYNOGUARD_TESTS_SUPPORT_WEBHOOK_PAYLOADS_H_
#define DYNOGUARD_TESTS_SUPPORT_WEBHOOK_PAYLOADS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynoguard::testing {

inline constexpr std::string_view kTestWabaId = "102290129340398";
inline constexpr std::string_view kTestPhoneNumberId = "106540352242922";
inline constexpr std::string_view kTestDisplayPhoneNumber = "15550783881";
inline constexpr int64_t kTestTimestampS = 1739321024;

// `s` as a JSON string literal, quotes included.
std::string JsonString(std::string_view s);

// What every inbound message object has, and its optional "context".
struct MessageHeader {
  std::string from = "16505551234";
  std::string id;  // "wamid.…"; must be set
  int64_t timestamp_s = kTestTimestampS;
  // "context": {"from": context_from, "id": context_id} for a reply,
  // {"forwarded": true} / {"frequently_forwarded": true} for forwards.
  std::string context_id;
  std::string context_from = std::string(kTestDisplayPhoneNumber);
  bool forwarded = false;
  bool frequently_forwarded = false;
};

// Message objects (one element of value.messages).
std::string TextMessage(const MessageHeader& header, std::string_view body);
// `type`: image, document, audio, video or sticker. Empty caption/filename
// are left out (filename only for documents; audio and sticker get no
// caption); "voice": true for audio when `voice`.
std::string MediaMessage(const MessageHeader& header, std::string_view type,
                         std::string_view media_id, std::string_view mime_type,
                         std::string_view caption = {},
                         std::string_view filename = {}, bool voice = false);
std::string LocationMessage(const MessageHeader& header, double latitude,
                            double longitude, std::string_view name = {},
                            std::string_view address = {});
// One shared contact with a formatted name and one phone.
std::string ContactsMessage(const MessageHeader& header,
                            std::string_view formatted_name,
                            std::string_view phone);
// "reaction": {"message_id","emoji"}; an empty emoji removes a reaction.
std::string ReactionMessage(const MessageHeader& header,
                            std::string_view message_id,
                            std::string_view emoji);
// interactive.button_reply {id,title} / interactive.list_reply
// {id,title,description}; Meta puts the replied message in "context".
std::string ButtonReplyMessage(const MessageHeader& header,
                               std::string_view reply_id,
                               std::string_view title);
std::string ListReplyMessage(const MessageHeader& header,
                             std::string_view reply_id, std::string_view title,
                             std::string_view description = {});
// A template quick-reply button: "button": {"payload","text"}.
std::string QuickReplyButtonMessage(const MessageHeader& header,
                                    std::string_view payload,
                                    std::string_view text);
// "order": {"catalog_id","text","product_items":[{product_retailer_id,
// quantity,item_price,currency}]} with one item.
std::string OrderMessage(const MessageHeader& header,
                         std::string_view catalog_id,
                         std::string_view product_id, int quantity,
                         double price, std::string_view currency);
// "type":"unsupported" with errors[131051] and unsupported.type.
std::string UnsupportedMessage(
    const MessageHeader& header,
    std::string_view unsupported_type = "poll_update");

// One element of value.contacts.
std::string Contact(std::string_view wa_id, std::string_view profile_name);

// An error object as statuses[].errors[] and value.errors carry it.
struct WebhookErrorSpec {
  int code = 131026;
  std::string title = "Message undeliverable";
  std::string message = "Message undeliverable";
  std::string details = "Message Undeliverable.";
};
std::string WebhookError(const WebhookErrorSpec& error);

// One element of value.statuses. `status`: sent, delivered, read, failed.
// sent and delivered carry "conversation" and "pricing"; failed carries
// `errors` (each a WebhookError), defaulting to one 131026 error.
std::string StatusObject(std::string_view wamid, std::string_view status,
                         std::string_view recipient_id = "16505551234",
                         int64_t timestamp_s = kTestTimestampS,
                         std::vector<std::string> errors = {});

// The pieces of one change's value.
struct ChangeValue {
  std::string phone_number_id = std::string(kTestPhoneNumberId);
  std::string display_phone_number = std::string(kTestDisplayPhoneNumber);
  std::vector<std::string> contacts;  // Contact(...)
  std::vector<std::string> messages;  // *Message(...)
  std::vector<std::string> statuses;  // StatusObject(...)
  std::vector<std::string> errors;    // WebhookError(...)
};
// {"value":{…},"field":`field`}.
std::string Change(const ChangeValue& value,
                   std::string_view field = "messages");
// {"id":`waba_id`,"changes":[…]}.
std::string Entry(const std::vector<std::string>& changes,
                  std::string_view waba_id = kTestWabaId);
// {"object":"whatsapp_business_account","entry":[…]}.
std::string Webhook(const std::vector<std::string>& entries);

// Shortcuts: one entry, one change.
std::string MessagesWebhook(const std::vector<std::string>& messages,
                            const std::vector<std::string>& contacts = {});
std::string StatusesWebhook(const std::vector<std::string>& statuses);
std::string ErrorsWebhook(const std::vector<std::string>& errors);

// "sha256=" + lowercase hex HMAC-SHA256(app_secret, body): Meta's
// X-Hub-Signature-256. Computed here with OpenSSL directly, independent of
// the worker's own code.
std::string SignatureHeader(std::string_view app_secret, std::string_view body);

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_WEBHOOK_PAYLOADS_H_
