// frugal serve: the OpenAI-compatible server. Parsing and the HTTP transport live here; routes,
// JSON shapes and generation are the library's (src/serve/).
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "model_options.h"
#include "serve/api.h"
#include "serve/api_error.h"
#include "serve/engine.h"

namespace frugal::cli {

namespace {

struct AdapterArg {
  std::string id, path;
};

// "name=PATH", or a bare PATH served under its file or folder name.
AdapterArg parse_adapter_arg(const std::string& arg) {
  const size_t eq = arg.find('=');
  AdapterArg a;
  if (eq != std::string::npos && arg.find('/') > eq) {
    a.id = arg.substr(0, eq);
    a.path = arg.substr(eq + 1);
  } else {
    a.path = arg;
    a.id = std::filesystem::path(arg).filename().string();
    if (a.id.empty()) a.id = std::filesystem::path(arg).parent_path().filename().string();
  }
  if (a.id.empty() || a.path.empty()) fail("serve: --adapter takes name=PATH, got '" + arg + "'");
  return a;
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string default_model_id(const std::string& path) {
  std::filesystem::path p(path);
  std::string id = p.has_filename() ? p.stem().string() : p.parent_path().filename().string();
  return id.empty() ? "model" : id;
}

const char* status_message(int status) {
  switch (status) {
    case 400: return "the request could not be read";
    case 404: return "no such route";
    case 405: return "method not allowed";
    case 413: return "the body is larger than this server takes (--max-body-bytes)";
    case 414: return "the URI is too long";
    default: return "the request failed";
  }
}

void send(const HttpReply& reply, httplib::Response& res) {
  res.status = reply.status;
  if (!reply.stream) {
    res.set_content(reply.body, reply.content_type.c_str());
    return;
  }
  auto stream = reply.stream;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(reply.content_type, [stream](size_t, httplib::DataSink& sink) {
    stream([&sink](const std::string& data) { return sink.write(data.data(), data.size()); });
    sink.done();
    return true;
  });
}

// SIGINT and SIGTERM, taken by a thread of their own (a signal handler may not stop the server).
// They are blocked before any other thread exists (OpenMP's while loading, the server's), so every
// thread inherits the mask and none dies of them. While loading they end the process; once
// listening they stop the server, whose thread pool finishes the requests it has taken.
class StopSignals {
 public:
  explicit StopSignals(httplib::Server& server) : server_(server) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this] {
      int sig = 0;
      sigwait(&signals_, &sig);
      if (done_) return;  // woken by the destructor
      if (!listening_) std::_Exit(128 + sig);
      while (!server_.is_running() && listening_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      server_.stop();
    });
  }
  void listening(bool on) { listening_ = on; }
  ~StopSignals() {  // also on an error while loading: the thread is let go, never left running
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  httplib::Server& server_;
  sigset_t signals_;
  std::atomic<bool> listening_{false}, done_{false};
  std::thread thread_;
};

}  // namespace

int cmd_serve(const Args& args) {
  std::vector<OptionSpec> specs;
  for (const OptionSpec& s : model_option_specs())
    if (s.name != "adapter") specs.push_back(s);
  std::vector<OptionSpec> more = {
      {"adapter", "", OptionKind::String, "", "a LoRA adapter to serve as model id NAME: NAME=PATH, PATH a PEFT folder or a GGUF LoRA file (kept unmerged; requests choose it with \"model\": NAME)", false, true},
      {"model-name", "", OptionKind::String, "", "the base model's id in /v1/models (default: the model file's name)"},
      {"host", "", OptionKind::String, "127.0.0.1", "address to listen on; any other than loopback needs --api-key"},
      {"port", "", OptionKind::Int, "8080", "port to listen on (0: a free one, printed at start)"},
      {"api-key", "", OptionKind::String, "", "require 'Authorization: Bearer KEY' on every route but /health"},
      {"max-tokens-limit", "", OptionKind::Int, "4096", "largest max_tokens a request may ask for"},
      {"max-body-bytes", "", OptionKind::Int, "1048576", "largest request body accepted (413 above)"},
      {"http-threads", "", OptionKind::Int, "8", "threads taking HTTP requests (generation itself runs one request at a time)"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  for (const OptionSpec& s : precision_option_specs()) specs.push_back(s);
  for (const OptionSpec& s : chat_template_option_specs()) specs.push_back(s);
  Options o("serve", "Serve the model and its LoRA adapters over an OpenAI-compatible HTTP API.", specs);
  if (!parse_or_help(o, args)) return 0;

  const std::string host = o.get("host");
  const int64_t port = o.get_int("port");
  if (port < 0 || port > 65535) fail("serve: --port must be between 0 and 65535");
  if (!is_loopback(host) && o.get("api-key").empty())
    fail("serve: --host " + host + " is reachable from other machines; give --api-key too");
  ApiOptions api_options;
  api_options.api_key = o.get("api-key");
  api_options.max_body_bytes = o.get_int("max-body-bytes");
  api_options.limits.max_tokens = o.get_int("max-tokens-limit");
  if (api_options.max_body_bytes < 1) fail("serve: --max-body-bytes must be positive");
  if (api_options.limits.max_tokens < 1) fail("serve: --max-tokens-limit must be positive");
  const int64_t http_threads = o.get_int("http-threads");
  if (http_threads < 1 || http_threads > 1024) fail("serve: --http-threads must be between 1 and 1024");

  httplib::Server server;
  StopSignals stop_signals(server);

  InferenceModel loaded = load_model_for_inference(o, /*merge_adapter=*/false);
  EngineOptions engine_options;
  engine_options.base_id = o.was_set("model-name") ? o.get("model-name") : default_model_id(o.get("model"));
  engine_options.precision = loaded.precision;
  engine_options.threads = static_cast<int>(o.get_int("threads"));
  engine_options.chat_template = chat_template_source(o, *loaded.model);
  engine_options.chat_template_origin = chat_template_origin(o, *loaded.model);
  GenerationEngine engine(*loaded.model, engine_options);
  for (const std::string& arg : o.get_all("adapter")) {
    const AdapterArg a = parse_adapter_arg(arg);
    engine.add_adapter(a.id, load_adapter(a.path, loaded.model->config));
  }
  ServeApi api(engine, api_options);

  server.new_task_queue = [http_threads] { return new httplib::ThreadPool(static_cast<size_t>(http_threads)); };
  server.set_payload_max_length(static_cast<size_t>(api_options.max_body_bytes));
  auto dispatch = [&api](const httplib::Request& req, httplib::Response& res) {
    send(api.handle(req.method, req.path, req.get_header_value("Authorization"), req.body), res);
  };
  server.Get(".*", dispatch).Post(".*", dispatch).Put(".*", dispatch).Delete(".*", dispatch);
  // Errors the HTTP layer answers itself (a body over the limit, a malformed request line) get
  // OpenAI's error object too.
  server.set_error_handler([&api](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const HttpReply r = api.error_reply(req.path, res.status, status_message(res.status));
    res.set_content(r.body, r.content_type.c_str());
  });

  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, static_cast<int>(port)) ? static_cast<int>(port) : -1);
  if (bound <= 0) fail("serve: cannot listen on " + host + ":" + std::to_string(port));
  stop_signals.listening(true);
  std::string ids = engine.base_id();
  for (const std::string& id : engine.adapter_ids()) ids += ", " + id;
  std::fprintf(stderr, "frugal serve: listening on http://%s:%d (models: %s)\n", host.c_str(), bound, ids.c_str());
  std::fflush(stderr);
  const bool clean = server.listen_after_bind();
  stop_signals.listening(false);
  if (!clean) fail("serve: the server stopped listening on " + host + ":" + std::to_string(bound));
  return 0;
}

}  // namespace frugal::cli
