#include "tests/support/png_image.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>

namespace dynoguard::testing {
namespace {

using common::Result;
using common::Status;

uint32_t ReadBe32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

int Paeth(int a, int b, int c) {
  int p = a + b - c;
  int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

}  // namespace

bool Rgb::Near(Rgb other, int tolerance) const {
  return std::abs(r - other.r) <= tolerance &&
         std::abs(g - other.g) <= tolerance &&
         std::abs(b - other.b) <= tolerance;
}

Rgb ParseHexColor(std::string_view hex) {
  if (hex.size() != 7 || hex[0] != '#') return {};
  auto byte = [&](size_t at) {
    return static_cast<uint8_t>(
        std::strtoul(std::string(hex.substr(at, 2)).c_str(), nullptr, 16));
  };
  return Rgb{byte(1), byte(3), byte(5)};
}

Result<PngImage> PngImage::Decode(std::string_view bytes) {
  static constexpr unsigned char kSignature[8] = {0x89, 'P',  'N',  'G',
                                                  '\r', '\n', 0x1a, '\n'};
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 8 || std::memcmp(data, kSignature, 8) != 0) {
    return Status::InvalidArgument("not a PNG: bad signature");
  }
  PngImage image;
  int channels = 0;
  std::string idat;
  size_t at = 8;
  bool ended = false;
  while (!ended) {
    if (at + 12 > bytes.size()) {
      return Status::InvalidArgument("PNG truncated");
    }
    uint32_t length = ReadBe32(data + at);
    std::string_view type(bytes.data() + at + 4, 4);
    if (at + 12 + length > bytes.size()) {
      return Status::InvalidArgument("PNG chunk truncated");
    }
    const unsigned char* body = data + at + 8;
    if (type == "IHDR") {
      if (length != 13) return Status::InvalidArgument("bad IHDR");
      image.width_ = static_cast<int>(ReadBe32(body));
      image.height_ = static_cast<int>(ReadBe32(body + 4));
      int depth = body[8], color = body[9], interlace = body[12];
      if (depth != 8 || (color != 2 && color != 6) || interlace != 0 ||
          image.width_ <= 0 || image.height_ <= 0 || image.width_ > 20000 ||
          image.height_ > 20000) {
        return Status::InvalidArgument(
            "PNG not 8-bit RGB/RGBA, or interlaced, or too large");
      }
      channels = color == 2 ? 3 : 4;
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), length);
    } else if (type == "IEND") {
      ended = true;
    }
    at += 12 + length;
  }
  if (channels == 0) return Status::InvalidArgument("PNG without IHDR");

  const size_t stride = static_cast<size_t>(image.width_) * channels;
  std::vector<uint8_t> raw((stride + 1) * static_cast<size_t>(image.height_));
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size,
                 reinterpret_cast<const Bytef*>(idat.data()),
                 idat.size()) != Z_OK ||
      raw_size != raw.size()) {
    return Status::InvalidArgument("PNG image data does not inflate");
  }
  // Undo the per-row filters (PNG spec §9) in place.
  std::vector<uint8_t> previous(stride, 0);
  image.rgb_.resize(static_cast<size_t>(image.width_) * image.height_ * 3);
  for (int y = 0; y < image.height_; ++y) {
    uint8_t* row = raw.data() + static_cast<size_t>(y) * (stride + 1);
    const int filter = row[0];
    uint8_t* line = row + 1;
    for (size_t i = 0; i < stride; ++i) {
      int a = i >= static_cast<size_t>(channels) ? line[i - channels] : 0;
      int b = previous[i];
      int c = i >= static_cast<size_t>(channels) ? previous[i - channels] : 0;
      int add = 0;
      switch (filter) {
        case 0:
          break;
        case 1:
          add = a;
          break;
        case 2:
          add = b;
          break;
        case 3:
          add = (a + b) / 2;
          break;
        case 4:
          add = Paeth(a, b, c);
          break;
        default:
          return Status::InvalidArgument("PNG row filter unknown");
      }
      line[i] = static_cast<uint8_t>(line[i] + add);
    }
    std::memcpy(previous.data(), line, stride);
    for (int x = 0; x < image.width_; ++x) {
      uint8_t* out =
          &image.rgb_[(static_cast<size_t>(y) * image.width_ + x) * 3];
      std::memcpy(out, line + static_cast<size_t>(x) * channels, 3);
    }
  }
  return image;
}

Rgb PngImage::At(int x, int y) const {
  const uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
  return Rgb{p[0], p[1], p[2]};
}

int PngImage::CountInRow(int y, Rgb color, int tolerance, int x0,
                         int x1) const {
  if (x1 < 0 || x1 > width_) x1 = width_;
  int n = 0;
  for (int x = std::max(0, x0); x < x1; ++x)
    n += At(x, y).Near(color, tolerance);
  return n;
}

int PngImage::CountIn(Rgb color, int tolerance, int x0, int y0, int x1,
                      int y1) const {
  int n = 0;
  for (int y = std::max(0, y0); y < std::min(y1, height_); ++y) {
    n += CountInRow(y, color, tolerance, x0, x1);
  }
  return n;
}

}  // namespace dynoguard::testing
