#include "tests/support/webhook_payloads.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace dynoguard::testing {

namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i];
  }
  return out;
}

std::string Member(std::string_view name, std::string_view value_json) {
  return JsonString(name) + ":" + std::string(value_json);
}

std::string StringMember(std::string_view name, std::string_view value) {
  return Member(name, JsonString(value));
}

std::string Context(const MessageHeader& header) {
  std::vector<std::string> members;
  if (header.forwarded) members.push_back(Member("forwarded", "true"));
  if (header.frequently_forwarded) {
    members.push_back(Member("frequently_forwarded", "true"));
  }
  if (!header.context_id.empty()) {
    members.push_back(StringMember("from", header.context_from));
    members.push_back(StringMember("id", header.context_id));
  }
  if (members.empty()) return "";
  return "," + Member("context", "{" + Join(members) + "}");
}

// A message object: the header members, the context, then `type` and its
// object.
std::string Message(const MessageHeader& header, std::string_view type,
                    std::string_view object_json,
                    std::string_view extra_members = {}) {
  std::string out =
      "{" + StringMember("from", header.from) + "," +
      StringMember("id", header.id) + "," +
      StringMember("timestamp", std::to_string(header.timestamp_s));
  out += Context(header);
  if (!extra_members.empty()) out += "," + std::string(extra_members);
  out += "," + StringMember("type", type);
  if (!object_json.empty()) out += "," + Member(type, object_json);
  out += "}";
  return out;
}

std::string Number(double value) { return fmt::format("{}", value); }

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string TextMessage(const MessageHeader& header, std::string_view body) {
  return Message(header, "text", "{" + StringMember("body", body) + "}");
}

std::string MediaMessage(const MessageHeader& header, std::string_view type,
                         std::string_view media_id, std::string_view mime_type,
                         std::string_view caption, std::string_view filename,
                         bool voice) {
  std::string object = "{";
  if (!caption.empty() && type != "audio" && type != "sticker") {
    object += StringMember("caption", caption) + ",";
  }
  if (!filename.empty() && type == "document") {
    object += StringMember("filename", filename) + ",";
  }
  object +=
      StringMember("mime_type", mime_type) + "," +
      StringMember("sha256", "X+8vDvsbQfmHHP3ZbdnMk3TgLxZ2nGuDdJ+qCFTdbGk=") +
      "," + StringMember("id", media_id);
  if (type == "sticker") object += "," + Member("animated", "false");
  if (type == "audio" && voice) object += "," + Member("voice", "true");
  object += "}";
  return Message(header, type, object);
}

std::string LocationMessage(const MessageHeader& header, double latitude,
                            double longitude, std::string_view name,
                            std::string_view address) {
  std::string object = "{" + Member("latitude", Number(latitude)) + "," +
                       Member("longitude", Number(longitude));
  if (!name.empty()) object += "," + StringMember("name", name);
  if (!address.empty()) object += "," + StringMember("address", address);
  object += "}";
  return Message(header, "location", object);
}

std::string ContactsMessage(const MessageHeader& header,
                            std::string_view formatted_name,
                            std::string_view phone) {
  std::string contact =
      "{" +
      Member("name", "{" + StringMember("formatted_name", formatted_name) +
                         "," + StringMember("first_name", formatted_name) +
                         "}") +
      "," +
      Member("phones", "[{" + StringMember("phone", phone) + "," +
                           StringMember("wa_id", phone) + "," +
                           StringMember("type", "CELL") + "}]") +
      "}";
  return Message(header, "contacts", "[" + contact + "]");
}

std::string ReactionMessage(const MessageHeader& header,
                            std::string_view message_id,
                            std::string_view emoji) {
  std::string object = "{" + StringMember("message_id", message_id);
  if (!emoji.empty()) object += "," + StringMember("emoji", emoji);
  object += "}";
  return Message(header, "reaction", object);
}

std::string ButtonReplyMessage(const MessageHeader& header,
                               std::string_view reply_id,
                               std::string_view title) {
  std::string object =
      "{" + StringMember("type", "button_reply") + "," +
      Member("button_reply", "{" + StringMember("id", reply_id) + "," +
                                 StringMember("title", title) + "}") +
      "}";
  return Message(header, "interactive", object);
}

std::string ListReplyMessage(const MessageHeader& header,
                             std::string_view reply_id, std::string_view title,
                             std::string_view description) {
  std::string reply =
      "{" + StringMember("id", reply_id) + "," + StringMember("title", title);
  if (!description.empty()) {
    reply += "," + StringMember("description", description);
  }
  reply += "}";
  std::string object = "{" + StringMember("type", "list_reply") + "," +
                       Member("list_reply", reply) + "}";
  return Message(header, "interactive", object);
}

std::string QuickReplyButtonMessage(const MessageHeader& header,
                                    std::string_view payload,
                                    std::string_view text) {
  return Message(header, "button",
                 "{" + StringMember("payload", payload) + "," +
                     StringMember("text", text) + "}");
}

std::string OrderMessage(const MessageHeader& header,
                         std::string_view catalog_id,
                         std::string_view product_id, int quantity,
                         double price, std::string_view currency) {
  std::string item = "{" + StringMember("product_retailer_id", product_id) +
                     "," + Member("quantity", std::to_string(quantity)) + "," +
                     Member("item_price", Number(price)) + "," +
                     StringMember("currency", currency) + "}";
  std::string object = "{" + StringMember("catalog_id", catalog_id) + "," +
                       StringMember("text", "") + "," +
                       Member("product_items", "[" + item + "]") + "}";
  return Message(header, "order", object);
}

std::string UnsupportedMessage(const MessageHeader& header,
                               std::string_view unsupported_type) {
  WebhookErrorSpec error{131051, "Message type unknown", "Message type unknown",
                         "Message type is currently not supported."};
  return Message(header, "unsupported",
                 "{" + StringMember("type", unsupported_type) + "}",
                 Member("errors", "[" + WebhookError(error) + "]"));
}

std::string Contact(std::string_view wa_id, std::string_view profile_name) {
  return "{" +
         Member("profile", "{" + StringMember("name", profile_name) + "}") +
         "," + StringMember("wa_id", wa_id) + "}";
}

std::string WebhookError(const WebhookErrorSpec& error) {
  return "{" + Member("code", std::to_string(error.code)) + "," +
         StringMember("title", error.title) + "," +
         StringMember("message", error.message) + "," +
         Member("error_data",
                "{" + StringMember("details", error.details) + "}") +
         "," +
         StringMember("href",
                      "https://developers.facebook.com/docs/whatsapp/"
                      "cloud-api/support/error-codes/") +
         "}";
}

std::string StatusObject(std::string_view wamid, std::string_view status,
                         std::string_view recipient_id, int64_t timestamp_s,
                         std::vector<std::string> errors) {
  std::string out = "{" + StringMember("id", wamid) + "," +
                    StringMember("status", status) + "," +
                    StringMember("timestamp", std::to_string(timestamp_s)) +
                    "," + StringMember("recipient_id", recipient_id);
  if (status == "sent" || status == "delivered") {
    out += "," +
           Member("conversation",
                  "{" +
                      StringMember("id", "CONVERSATION_ID_" +
                                             std::string(recipient_id)) +
                      "," +
                      StringMember("expiration_timestamp",
                                   std::to_string(timestamp_s + 86400)) +
                      "," +
                      Member("origin",
                             "{" + StringMember("type", "service") + "}") +
                      "}") +
           "," +
           Member("pricing", "{" + Member("billable", "true") + "," +
                                 StringMember("pricing_model", "PMP") + "," +
                                 StringMember("type", "regular") + "," +
                                 StringMember("category", "service") + "}");
  }
  if (status == "failed") {
    if (errors.empty()) errors.push_back(WebhookError(WebhookErrorSpec{}));
  }
  if (!errors.empty()) out += "," + Member("errors", "[" + Join(errors) + "]");
  out += "}";
  return out;
}

std::string Change(const ChangeValue& value, std::string_view field) {
  std::string out =
      "{" + Member("value", "") + "{" +
      StringMember("messaging_product", "whatsapp") + "," +
      Member(
          "metadata",
          "{" +
              StringMember("display_phone_number", value.display_phone_number) +
              "," + StringMember("phone_number_id", value.phone_number_id) +
              "}");
  if (!value.contacts.empty()) {
    out += "," + Member("contacts", "[" + Join(value.contacts) + "]");
  }
  if (!value.messages.empty()) {
    out += "," + Member("messages", "[" + Join(value.messages) + "]");
  }
  if (!value.statuses.empty()) {
    out += "," + Member("statuses", "[" + Join(value.statuses) + "]");
  }
  if (!value.errors.empty()) {
    out += "," + Member("errors", "[" + Join(value.errors) + "]");
  }
  out += "}," + StringMember("field", field) + "}";
  return out;
}

std::string Entry(const std::vector<std::string>& changes,
                  std::string_view waba_id) {
  return "{" + StringMember("id", waba_id) + "," +
         Member("changes", "[" + Join(changes) + "]") + "}";
}

std::string Webhook(const std::vector<std::string>& entries) {
  return "{" + StringMember("object", "whatsapp_business_account") + "," +
         Member("entry", "[" + Join(entries) + "]") + "}";
}

std::string MessagesWebhook(const std::vector<std::string>& messages,
                            const std::vector<std::string>& contacts) {
  ChangeValue value;
  value.messages = messages;
  value.contacts = contacts;
  if (value.contacts.empty()) {
    value.contacts.push_back(Contact("16505551234", "Sheena Nelson"));
  }
  return Webhook({Entry({Change(value)})});
}

std::string StatusesWebhook(const std::vector<std::string>& statuses) {
  ChangeValue value;
  value.statuses = statuses;
  return Webhook({Entry({Change(value)})});
}

std::string ErrorsWebhook(const std::vector<std::string>& errors) {
  ChangeValue value;
  value.errors = errors;
  return Webhook({Entry({Change(value)})});
}

std::string SignatureHeader(std::string_view app_secret,
                            std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  static const unsigned char kEmpty = 0;
  const unsigned char* data =
      body.empty() ? &kEmpty
                   : reinterpret_cast<const unsigned char*>(body.data());
  const void* key = app_secret.empty()
                        ? static_cast<const void*>(&kEmpty)
                        : static_cast<const void*>(app_secret.data());
  HMAC(EVP_sha256(), key, static_cast<int>(app_secret.size()), data,
       body.size(), digest, &length);
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out += fmt::format("{:02x}", digest[i]);
  }
  return out;
}

}  // namespace dynoguard::testing
