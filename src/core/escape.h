// Control bytes written visibly (\n, \r, \t, \xNN): error messages stay on one line and Jinja's
// repr of a string shows them as Python does.
#pragma once
#include <cstdio>
#include <string>

namespace frugal {

// Appends byte c to out, escaped if it is a control byte (below 0x20, or DEL).
inline void append_escaping_control(std::string& out, unsigned char c) {
  if (c >= 0x20 && c != 0x7f) {
    out.push_back(static_cast<char>(c));
    return;
  }
  char esc[8];
  if (c == '\n') std::snprintf(esc, sizeof esc, "\\n");
  else if (c == '\r') std::snprintf(esc, sizeof esc, "\\r");
  else if (c == '\t') std::snprintf(esc, sizeof esc, "\\t");
  else std::snprintf(esc, sizeof esc, "\\x%02x", c);
  out.append(esc);
}

}  // namespace frugal
