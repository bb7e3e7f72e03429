// PngImage: decodes the PNG files a browser's screenshot writes (8-bit RGB
// or RGBA, not interlaced) with zlib, so a test can look at the pixels of a
// rendered page.
#ifndef DYNOGUARD_TESTS_SUPPORT_PNG_IMAGE_H_
#define DYNOGUARD_TESTS_SUPPORT_PNG_IMAGE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynoguard::testing {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  // Each channel within `tolerance` of `other`'s.
  bool Near(Rgb other, int tolerance) const;
};

// "#rrggbb" → Rgb; black for anything else.
Rgb ParseHexColor(std::string_view hex);

class PngImage {
 public:
  // Errors: InvalidArgument for what is not such a PNG (bad signature, CRC
  // not checked, a colour type or depth other than RGB/RGBA 8-bit,
  // interlacing, a truncated or bad zlib stream).
  static common::Result<PngImage> Decode(std::string_view bytes);

  int width() const { return width_; }
  int height() const { return height_; }
  // REQUIRES: 0 <= x < width(), 0 <= y < height().
  Rgb At(int x, int y) const;

  // Pixels of row `y` in [x0, x1) near `color`.
  int CountInRow(int y, Rgb color, int tolerance, int x0 = 0,
                 int x1 = -1) const;
  // Pixels near `color` in the rectangle [x0, x1) × [y0, y1).
  int CountIn(Rgb color, int tolerance, int x0, int y0, int x1, int y1) const;

 private:
  int width_ = 0;
  int height_ = 0;
  std::vector<uint8_t> rgb_;  // 3 bytes a pixel, rows top to bottom
};

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_PNG_IMAGE_H_
