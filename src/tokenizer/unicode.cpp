#include "tokenizer/unicode.h"

#include <algorithm>

namespace frugal {

size_t utf8_invalid_offset(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;  // continuation byte without a lead, or 0xF8..0xFF
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

ByteAlphabet make_alphabet() {
  // Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, 0x7F-0xA0,
  // soft hyphen) are moved to U+0100.. in byte order, so every token stays printable.
  ByteAlphabet a;
  a.code_point_to_byte.fill(-1);
  uint32_t next_free = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? b : next_free++;
    append_utf8(a.byte_to_text[b], cp);
    a.code_point_to_byte[cp] = static_cast<int16_t>(b);
  }
  return a;
}

}  // namespace

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet = make_alphabet();
  return alphabet;
}

void bytes_to_alphabet(std::string_view bytes, std::string& out) {
  const ByteAlphabet& a = byte_alphabet();
  out.clear();
  for (unsigned char b : bytes) out += a.byte_to_text[b];
}

std::string alphabet_to_bytes(std::string_view text) {
  const ByteAlphabet& a = byte_alphabet();
  std::string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = std::min(utf8_sequence_length(s[i]), text.size() - i);
    uint32_t cp = 0x110000;  // "not in the alphabet" unless decoded below
    if (len == 1 && s[i] < 0x80) {
      cp = s[i];
    } else if (len == 2) {
      cp = ((s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
    }
    if (cp < a.code_point_to_byte.size() && a.code_point_to_byte[cp] >= 0) {
      out += static_cast<char>(a.code_point_to_byte[cp]);
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace frugal
