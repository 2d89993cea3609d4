// Errors a server request can get, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}
// with the HTTP status that goes with them (400 bad request, 401 key, 404 model or route, 413 body).
#pragma once
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace frugal {

class ApiError : public std::runtime_error {
 public:
  // `param`: the request field at fault ("" for none); `code`: OpenAI's machine-readable code ("" for none).
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "")
      : std::runtime_error(message), status(status), param(std::move(param)), code(std::move(code)) {}
  int status;
  std::string param, code;
};

// OpenAI's type for a status: invalid_request_error (4xx but 401), authentication_error, server_error.
std::string api_error_type(int status);
nlohmann::json api_error_body(const ApiError& error);
nlohmann::json api_error_body(int status, const std::string& message);

// A JSON document as text; invalid UTF-8 in generated text becomes U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& value);

}  // namespace frugal
