// Json, StringAt: reading an HTTP answer's JSON in a test, leniently (a
// missing or mistyped field reads as "", and the check that uses it fails).
#ifndef DYNOGUARD_TESTS_SUPPORT_JSON_FIELDS_H_
#define DYNOGUARD_TESTS_SUPPORT_JSON_FIELDS_H_

#include <rapidjson/document.h>

#include <string>

namespace dynoguard::testing {

inline rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  return doc;
}

inline std::string StringAt(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return "";
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString()
                                                     : "";
}

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_JSON_FIELDS_H_
