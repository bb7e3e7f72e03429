// MultipartReader: multipart/form-data parsed in pieces of every size, what
// it hands to its sink, and the errors a client gets for a bad body.
#include "worker/http/server/multipart_reader.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace dynoguard::worker::http_server {
namespace {

// Records every part whole (fine for the small bodies of these tests).
class Recorder : public MultipartSink {
 public:
  struct Part {
    MultipartPartHead head;
    std::string data;
    bool ended = false;
  };
  bool OnPart(const MultipartPartHead& head, std::string&) override {
    parts.push_back({head, "", false});
    return true;
  }
  bool OnData(std::string_view data, std::string& error) override {
    largest_piece = std::max(largest_piece, data.size());
    if (fail_on_data) {
      error = "sink says no";
      return false;
    }
    parts.back().data.append(data);
    return true;
  }
  bool OnPartEnd(std::string&) override {
    parts.back().ended = true;
    return true;
  }
  std::vector<Part> parts;
  size_t largest_piece = 0;
  bool fail_on_data = false;
};

MultipartReader::State Parse(const std::string& body, size_t piece,
                             Recorder& sink, std::string* error = nullptr,
                             std::string_view boundary = "XyZ") {
  MultipartReader reader(boundary);
  for (size_t at = 0; at < body.size(); at += piece) {
    reader.Feed(std::string_view(body).substr(at, piece), sink);
  }
  reader.Finish();
  if (error && reader.state() == MultipartReader::State::kError)
    *error = reader.error();
  return reader.state();
}

const std::string kBody =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"type\"\r\n"
    "\r\n"
    "image/png\r\n"
    "--XyZ\r\n"
    "content-disposition: form-data; name=\"file\"; "
    "filename=\"a \\\"b\\\";c.png\"\r\n"
    "Content-Type: image/x-test\r\n"
    "\r\n"
    "\r\n--XyNOT a boundary\r\n--X\r\n"
    "--XyZ  \r\n"
    "Content-Disposition: form-data; name=\"empty\"\r\n"
    "\r\n"
    "\r\n"
    "--XyZ--\r\n"
    "epilogue --XyZ\r\n";

TEST_CASE(
    "multipart reader: parts, names, filenames and data, in pieces "
    "of any size",
    "[media][http-server]") {
  for (size_t piece : {1, 2, 3, 5, 7, 16, 64, 10000}) {
    Recorder sink;
    REQUIRE(Parse(kBody, piece, sink) == MultipartReader::State::kDone);
    REQUIRE(sink.parts.size() == 3);
    CHECK(sink.parts[0].head.name == "type");
    CHECK_FALSE(sink.parts[0].head.has_filename);
    CHECK(sink.parts[0].data == "image/png");
    CHECK(sink.parts[1].head.name == "file");
    CHECK(sink.parts[1].head.has_filename);
    CHECK(sink.parts[1].head.filename == "a \"b\";c.png");
    CHECK(sink.parts[1].head.content_type == "image/x-test");
    // Data that looks like the start of a delimiter stays data.
    CHECK(sink.parts[1].data == "\r\n--XyNOT a boundary\r\n--X");
    CHECK(sink.parts[2].head.name == "empty");
    CHECK(sink.parts[2].data.empty());
    for (const auto& p : sink.parts) CHECK(p.ended);
  }
}

TEST_CASE("multipart reader: a large part passes in pieces, never whole",
          "[media][http-server]") {
  std::string data(1 << 20, 'a');
  for (size_t i = 0; i < data.size(); i += 997) data[i] = '\r';
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=file\r\n\r\n" + data +
      "\r\n--b--";
  Recorder sink;
  REQUIRE(Parse(body, 64 * 1024, sink, nullptr, "b") ==
          MultipartReader::State::kDone);
  REQUIRE(sink.parts.size() == 1);
  CHECK(sink.parts[0].data == data);
  CHECK(sink.largest_piece <= 64 * 1024 + 8);
}

TEST_CASE(
    "multipart reader: a body without its closing boundary is "
    "truncated",
    "[media][http-server]") {
  for (std::string body :
       {std::string(""), std::string("no delimiter at all"),
        std::string("--XyZ\r\nContent-Disposition: form-data; name=file\r\n"),
        std::string("--XyZ\r\nContent-Disposition: form-data; "
                    "name=file\r\n\r\nhalf the data"),
        std::string("--XyZ\r\nContent-Disposition: form-data; "
                    "name=file\r\n\r\ndata\r\n--XyZ")}) {
    Recorder sink;
    std::string error;
    CHECK(Parse(body, 3, sink, &error) == MultipartReader::State::kError);
    CHECK(error == "multipart body truncated before its closing boundary");
  }
}

TEST_CASE("multipart reader: malformed part headers and oversized heads",
          "[media][http-server]") {
  {
    Recorder sink;
    std::string error;
    CHECK(Parse("--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--", 4, sink,
                &error) == MultipartReader::State::kError);
    CHECK(error == "malformed part header in the multipart body");
  }
  {
    Recorder sink;
    std::string error;
    std::string body = "--XyZ\r\nX-Long: " + std::string(9000, 'h');
    CHECK(Parse(body, 100, sink, &error) == MultipartReader::State::kError);
    CHECK(error == "part headers larger than 8192 bytes");
  }
  {
    Recorder sink;
    std::string error;
    CHECK(Parse("--XyZjunk\r\n\r\nx\r\n--XyZ--", 1, sink, &error) ==
          MultipartReader::State::kError);
    CHECK(error == "malformed boundary line in the multipart body");
  }
  {
    Recorder sink;
    sink.fail_on_data = true;
    std::string error;
    CHECK(Parse("--XyZ\r\n\r\nx\r\n--XyZ--", 100, sink, &error) ==
          MultipartReader::State::kError);
    CHECK(error == "sink says no");
  }
}

TEST_CASE("multipart reader: the boundary of a Content-Type",
          "[media][http-server]") {
  CHECK(MultipartBoundary("multipart/form-data; boundary=abc") == "abc");
  CHECK(MultipartBoundary("Multipart/Form-Data;boundary=\"a b:c\"") == "a b:c");
  CHECK(MultipartBoundary("multipart/form-data; charset=x; boundary=q1; "
                          "other=y") == "q1");
  CHECK_FALSE(MultipartBoundary("multipart/form-data"));
  CHECK_FALSE(MultipartBoundary("multipart/form-data; boundary="));
  CHECK_FALSE(MultipartBoundary("multipart/form-data; boundary=\"open"));
  CHECK_FALSE(MultipartBoundary("multipart/mixed; boundary=abc"));
  CHECK_FALSE(MultipartBoundary("application/json"));
  CHECK_FALSE(MultipartBoundary(""));
  CHECK_FALSE(MultipartBoundary("multipart/form-data; boundary=" +
                                std::string(71, 'a')));
  CHECK_FALSE(MultipartBoundary("multipart/form-data; boundary=a\x01"));
}

}  // namespace
}  // namespace dynoguard::worker::http_server
