// UTF-8 helpers and the GPT-2 byte <-> unicode alphabet used by byte-level BPE vocabularies.
// Character classes (letters, digits, whitespace) are left to PCRE2 in pretokenizer.cpp.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace frugal {

// Offset of the first byte that is not part of a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are malformed), or npos when the text is valid.
size_t utf8_invalid_offset(std::string_view text);

// Length of the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte, so
// loops over arbitrary bytes always advance).
inline size_t utf8_sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

void append_utf8(std::string& out, uint32_t code_point);

// GPT-2's reversible map from the 256 byte values to printable code points: byte-level BPE
// vocabularies spell every token in this alphabet (a space is "Ġ", a newline "Ċ").
struct ByteAlphabet {
  std::array<std::string, 256> byte_to_text;    // UTF-8 of the code point that stands for each byte
  std::array<int16_t, 512> code_point_to_byte;  // inverse; -1 where a code point stands for no byte
};
const ByteAlphabet& byte_alphabet();

// Bytes -> alphabet text (what the BPE merges operate on).
void bytes_to_alphabet(std::string_view bytes, std::string& out);
// Alphabet text -> bytes. Characters outside the alphabet (added tokens spelled in plain text)
// are copied unchanged.
std::string alphabet_to_bytes(std::string_view text);

}  // namespace frugal
