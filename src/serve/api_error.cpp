#include "serve/api_error.h"

namespace frugal {

std::string api_error_type(int status) {
  if (status == 401) return "authentication_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

nlohmann::json api_error_body(const ApiError& e) {
  nlohmann::json error = {{"message", e.what()}, {"type", api_error_type(e.status)}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) error["param"] = e.param;
  if (!e.code.empty()) error["code"] = e.code;
  return {{"error", error}};
}

nlohmann::json api_error_body(int status, const std::string& message) { return api_error_body(ApiError(status, message)); }

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace frugal
