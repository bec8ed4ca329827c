// libFuzzer target: every REST JSON body and the settings merge, through the
// real route handlers (auth_routes, data_routes) and cpp-httplib's request
// parsing, in process: the first byte picks an endpoint, the rest is the
// body, sent with an admin API token. Parts are real (SQLite, files under
// /dev/shm); only the vision engine is absent.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "core/config.h"
#include "http/auth.h"
#include "http/auth_routes.h"
#include "http/data_routes.h"
#include "pipeline/train.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/fs_object_store.h"
#include "store/sqlite_sighting_store.h"
#include "store/stranger_clusters.h"

namespace concierge {
namespace {

// One request's bytes in, the response's bytes out (discarded).
class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string request) : in_(std::move(request)) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    in_.copy(ptr, n, pos_);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char*, size_t size) override { return static_cast<ssize_t>(size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

 private:
  std::string in_;
  size_t pos_ = 0;
};

class FuzzServer : public httplib::Server {
 public:
  void Serve(std::string request) {
    MemoryStream stream(std::move(request));
    bool closed = false;
    process_request(stream, true, closed, nullptr);
  }
};

struct Harness {
  Harness() {
    spdlog::set_level(spdlog::level::off);  // a log line per input costs more than the input
    dir = "/dev/shm/concierge-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    config.data_dir = dir;
    db = std::move(Database::OpenSqlite(config.DatabasePath(), 5000).value());
    objects = std::move(FsObjectStore::Open(config.ObjectRoot()).value());
    faces = std::move(FaceCollection::Open(db.get(), "default", {{"fuzz", 4}}).value());
    sightings = NewSqliteSightingStore(db.get());
    audit = NewSqliteAuditLog(db.get());
    clusters = NewSqliteStrangerClusters(db.get(), 0.5f, 3'600'000);
    trainer = std::make_unique<Trainer>(
        config.quality, ImageLimits{},
        TrainerParts{nullptr, sightings.get(), objects.get(), faces.get(), clusters.get(),
                     audit.get(), nullptr, nullptr});
    accounts = NewSqliteAccountStore(db.get());
    auth = std::make_unique<Authenticator>(accounts.get(), config.auth);
    if (!auth->AddUser("admin", "fuzz password", Role::kAdmin).ok()) std::abort();
    token = auth->CreateToken("fuzz", "admin").value().token;
    ctx.config = &config;
    ctx.sightings = sightings.get();
    ctx.objects = objects.get();
    ctx.faces = faces.get();
    ctx.auth = auth.get();
    ctx.audit = audit.get();
    ctx.clusters = clusters.get();
    ctx.trainer = trainer.get();
    server.set_payload_max_length(1024 * 1024);
    RegisterAuthRoutes(server, ctx);
    RegisterDataRoutes(server, ctx);
  }
  ~Harness() { std::filesystem::remove_all(dir); }

  std::string dir;
  Config config;
  std::unique_ptr<Database> db;
  std::unique_ptr<ObjectStore> objects;
  std::unique_ptr<FaceCollection> faces;
  std::unique_ptr<SightingStore> sightings;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<StrangerClusters> clusters;
  std::unique_ptr<Trainer> trainer;
  std::unique_ptr<AccountStore> accounts;
  std::unique_ptr<Authenticator> auth;
  std::string token;
  ApiContext ctx;
  FuzzServer server;
};

}  // namespace
}  // namespace concierge

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concierge;
  // Logins and new users are left out: their password hashing takes ~0.1 s.
  static const char* kEndpoints[] = {
      "PUT /api/v1/settings",         "POST /api/v1/tokens",
      "POST /api/v1/people",          "PATCH /api/v1/people/p1",
      "POST /api/v1/people/p1/merge", "POST /api/v1/unknowns/1/tag",
      "POST /api/v1/people/p2/merge", "PATCH /api/v1/people/p2"};
  static Harness* harness = new Harness();  // lives for the whole run
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string request = std::string(kEndpoints[data[0] % 8]) +
                              " HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer " +
                              harness->token +
                              "\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  harness->server.Serve(request);
  return 0;
}
