// ExtractMultipartUpload: the `file` part of a stored body copied to a file
// of its own, the text fields kept, and each refusal naming its field.
#include "worker/http/multipart_upload.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace dynoguard::worker {
namespace {

const char* kType = "multipart/form-data; boundary=B";

using testing::FilesIn;

std::string Field(const std::string& name, const std::string& value) {
  return "--B\r\nContent-Disposition: form-data; name=\"" + name +
         "\"\r\n\r\n" + value + "\r\n";
}

std::string FilePart(const std::string& data,
                     const std::string& name = "file") {
  return "--B\r\nContent-Disposition: form-data; name=\"" + name +
         "\"; filename=\"f.bin\"\r\nContent-Type: image/jpeg\r\n\r\n" + data +
         "\r\n";
}

class Stored {
 public:
  explicit Stored(const std::string& body) {
    std::ofstream(dir_.File("body"), std::ios::binary) << body;
  }
  std::variant<MultipartUpload, UploadError> Extract(
      std::string_view type = kType) {
    return ExtractMultipartUpload(dir_.File("body"), type, tmp(), 1000000);
  }
  std::string tmp() const { return dir_.path() + "/tmp"; }

 private:
  testing::TempDir dir_;
};

UploadError ErrorOf(std::variant<MultipartUpload, UploadError> v) {
  REQUIRE(std::holds_alternative<UploadError>(v));
  return std::get<UploadError>(std::move(v));
}

TEST_CASE("multipart upload: the file part in its own file, fields kept",
          "[media]") {
  std::string data(200000, 'q');
  data += "\r\n--";
  Stored s(Field("type", "image/png") + FilePart(data) +
           FilePart("other", "attachment") + "--B--\r\n");
  {
    auto v = s.Extract();
    REQUIRE(std::holds_alternative<MultipartUpload>(v));
    MultipartUpload& u = std::get<MultipartUpload>(v);
    CHECK(u.filename == "f.bin");
    CHECK(u.content_type == "image/jpeg");
    CHECK(u.fields.at("type") == "image/png");
    CHECK(u.file.bytes() == data.size());
    CHECK(u.file.path().rfind(s.tmp() + "/part-", 0) == 0);
    CHECK(testing::ReadFileText(u.file.path()) == data);
    CHECK(FilesIn(s.tmp()) == 1);
  }
  CHECK(FilesIn(s.tmp()) == 0);  // removed with the upload
}

TEST_CASE("multipart upload: refusals name their field and leave no file",
          "[media]") {
  {
    Stored s(FilePart("x") + "--B--");
    UploadError e = ErrorOf(s.Extract("multipart/form-data"));
    CHECK(e.status == 400);
    CHECK(e.code == "invalid_field");
    CHECK(e.field == "Content-Type");
  }
  {
    Stored s(Field("type", "a/b") + "--B--");
    UploadError e = ErrorOf(s.Extract());
    CHECK(e.field == "file");
    CHECK(e.message == "the multipart body has no part named file");
  }
  {
    Stored s(FilePart("x") + FilePart("y") + "--B--");
    UploadError e = ErrorOf(s.Extract());
    CHECK(e.field == "file");
    CHECK(e.message == "more than one part named file");
    CHECK(FilesIn(s.tmp()) == 0);
  }
  {
    Stored s(FilePart(std::string(1000001, 'L')) + "--B--");
    UploadError e = ErrorOf(s.Extract());
    CHECK(e.status == 413);
    CHECK(e.code == "payload_too_large");
    CHECK(FilesIn(s.tmp()) == 0);
  }
  {
    Stored s(FilePart("half"));
    UploadError e = ErrorOf(s.Extract());
    CHECK(e.field == "file");
    CHECK(e.message == "multipart body truncated before its closing boundary");
    CHECK(FilesIn(s.tmp()) == 0);
  }
  {
    Stored s(Field("caption", std::string(kMaxUploadFieldBytes + 1, 'c')) +
             FilePart("x") + "--B--");
    UploadError e = ErrorOf(s.Extract());
    CHECK(e.field == "caption");
  }
  {
    std::string body;
    for (size_t i = 0; i <= kMaxUploadFields; ++i) {
      body += Field("f" + std::to_string(i), "v");
    }
    Stored s(body + FilePart("x") + "--B--");
    UploadError e = ErrorOf(s.Extract());
    CHECK(e.field == "f16");
  }
}

}  // namespace
}  // namespace dynoguard::worker
