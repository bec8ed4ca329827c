// The data API over real HTTP: the HttpServer on 127.0.0.1 with a temp data
// dir, an admin and a viewer (API tokens), real face photos. Every endpoint is
// checked for 401 without credentials, 403 for a viewer where it changes
// things, bad input, paging, and forget leaving nothing of the person behind.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "http/auth.h"
#include "http/http_server.h"
#include "pipeline/events.h"
#include "pipeline/matcher.h"
#include "pipeline/train.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/fs_object_store.h"
#include "store/sqlite_sighting_store.h"
#include "store/stranger_clusters.h"
#include "support/api_server.h"
#include "support/face_images.h"
#include "support/models.h"
#include "support/notifier_parts.h"
#include "support/shared_face_engine.h"
#include "support/test_env.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kObama[] = "enroll/face_recognition/examples/obama.jpg";
constexpr char kObama2[] = "enroll/face_recognition/examples/obama2.jpg";
constexpr char kBiden[] = "enroll/face_recognition/examples/biden.jpg";
constexpr char kTwoPeople[] = "enroll/face_recognition/examples/two_people.jpg";
constexpr char kBlair[] = "lfw/images/Tony_Blair/Tony_Blair_0006.jpg";
constexpr char kBlair2[] = "lfw/images/Tony_Blair/Tony_Blair_0064.jpg";
constexpr char kNoFace[] = "negatives/imagenet_samples/n02086240_Shih-Tzu.JPEG";
constexpr int64_t kT0 = 1'790'000'000'000;

struct Reply {
  int status = 0;
  std::string body;
  std::string type;
  json doc() const { return json::parse(body, nullptr, false); }
  std::string code() const {
    const json d = doc();
    return d.is_object() && d.contains("error") ? d["error"].value("code", "") : "";
  }
};

class HttpDataTest : public testing::SharedFaceEngineTest {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    ASSERT_NE(engine_, nullptr) << "the vision engine did not load: " << engine_status_.ToString();
    config_.data_dir = dir_.path();
    config_.vision.models_dir = DefaultModelsDir();
    config_.vision.max_image_bytes = 2 * 1024 * 1024;
    config_.http.bind = "127.0.0.1";
    config_.http.port = 0;
    config_.http.threads = 4;
    ASSERT_OK(stores_.Open(config_, 0.5f, 3'600'000));
    trainer_ = std::make_unique<Trainer>(
        config_.quality, ImageLimits{},
        TrainerParts{engine_, stores_.sightings.get(), stores_.objects.get(), stores_.faces.get(),
                     stores_.clusters.get(), stores_.audit.get(), nullptr, nullptr});
    matcher_ = std::make_unique<Matcher>(engine_->pack(), stores_.faces.get(),
                                         config_.recognition.target_false_welcome_rate,
                                         SearchMode::kCentroid);
    trainer_->SetMatcher(matcher_.get());
    accounts_ = NewSqliteAccountStore(stores_.db.get());
    auth_ = std::make_unique<Authenticator>(accounts_.get(), config_.auth);
    const testing::ApiAccounts accounts = testing::AddApiAccounts(*auth_, "test");
    ASSERT_FALSE(HasFailure());
    admin_ = accounts.admin_token;
    viewer_ = accounts.viewer_token;

    ApiContext ctx;
    ctx.config = &config_;
    ctx.sightings = stores_.sightings.get();
    ctx.objects = stores_.objects.get();
    ctx.faces = stores_.faces.get();
    ctx.engine = engine_;
    ctx.matcher = matcher_.get();
    ctx.events = &events_;
    ctx.auth = auth_.get();
    ctx.audit = stores_.audit.get();
    ctx.clusters = stores_.clusters.get();
    ctx.trainer = trainer_.get();
    auto server = HttpServer::Start(ctx);
    ASSERT_OK(server);
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (server_) server_->Stop();
    events_.Stop();
  }

  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    return c;
  }

  static Reply From(const httplib::Result& r) {
    if (!r) return {-1, "no response: " + httplib::to_string(r.error()), ""};
    return {r->status, r->body, r->get_header_value("Content-Type")};
  }
  static httplib::Headers As(const std::string& token) {
    if (token.empty()) return {};
    return {{"Authorization", "Bearer " + token}};
  }

  Reply Get(const std::string& path, const std::string& token) const {
    return From(Client().Get(path.c_str(), As(token)));
  }
  Reply Post(const std::string& path, const std::string& token, const std::string& body = "{}",
             const std::string& type = "application/json") const {
    return From(Client().Post(path.c_str(), As(token), body, type.c_str()));
  }
  Reply Patch(const std::string& path, const std::string& token, const json& body) const {
    return From(Client().Patch(path.c_str(), As(token), body.dump(), "application/json"));
  }
  Reply Put(const std::string& path, const std::string& token, const std::string& body) const {
    return From(Client().Put(path.c_str(), As(token), body, "application/json"));
  }
  Reply Delete(const std::string& path, const std::string& token) const {
    return From(Client().Delete(path.c_str(), As(token)));
  }
  Reply PostPhotos(const std::string& path, const std::string& token,
                   const std::vector<std::string>& photos) const {
    httplib::MultipartFormDataItems items;
    for (const auto& p : photos)
      items.push_back({"image", testing::ReadFile(p), std::filesystem::path(p).filename().string(),
                       "image/jpeg"});
    return From(Client().Post(path.c_str(), As(token), items));
  }

  // Runs the checks every endpoint shares: 401 without credentials, 401 with
  // a wrong token, and for admin-only endpoints 403 for the viewer.
  void ExpectGuarded(const std::string& method, const std::string& path, bool admin_only) {
    SCOPED_TRACE(method + " " + path);
    auto call = [&](const std::string& token) {
      if (method == "GET") return Get(path, token);
      if (method == "PATCH") return Patch(path, token, json{{"name", "x"}});
      if (method == "DELETE") return Delete(path, token);
      if (method == "PUT") return Put(path, token, "{}");
      return Post(path, token);
    };
    Reply anonymous = call("");
    EXPECT_EQ(anonymous.status, 401) << anonymous.body;
    EXPECT_EQ(anonymous.code(), "unauthorized");
    EXPECT_EQ(call("not-a-token").status, 401);
    if (admin_only) {
      Reply viewer = call(viewer_);
      EXPECT_EQ(viewer.status, 403) << viewer.body;
      EXPECT_EQ(viewer.code(), "forbidden");
    }
  }

  // Analyses a photo with the test's engine: its one (largest) face.
  FaceObservation Face(const std::string& photo) {
    auto image = ReadImageFile(testing::DataPath(photo), {});
    EXPECT_TRUE(image.ok());
    auto faces = engine_->Analyze(*image, {.embed = EmbedWith::kAll, .anti_spoof = false});
    EXPECT_TRUE(faces.ok() && !faces->empty()) << photo;
    return faces.ok() && !faces->empty() ? faces->front() : FaceObservation{};
  }

  // A decided sighting with a stored picture, as the pipeline leaves it.
  SightingRecord Seen(const std::string& id, int64_t captured_ms, const std::string& photo,
                      const std::optional<std::string>& person, const std::string& camera = "door",
                      const std::optional<FaceObservation>& face = std::nullopt) {
    SightingRecord s;
    s.id = id;
    s.camera = camera;
    s.site = "office";
    s.track = "t-" + id;
    s.captured_ms = captured_ms;
    s.received_ms = captured_ms + 5;
    if (face) s.quality = face->quality;
    s.image_key = "incoming/" + id + ".jpg";
    const std::string bytes = testing::ReadFile(testing::DataPath(photo));
    EXPECT_TRUE(stores_.objects->Put(s.image_key, bytes).ok());
    EXPECT_TRUE(stores_.sightings->Insert(s).ok());
    SightingOutcome o;
    o.id = id;
    o.decision = person ? Decision::kKnown : Decision::kUnknown;
    o.person_id = person;
    o.similarity = person ? 0.8f : 0.1f;
    o.live_score = 0.9f;
    o.image_key = (person ? "known/" + *person + "/" : std::string("unknown/")) + id + ".jpg";
    EXPECT_TRUE(stores_.objects->Move(s.image_key, o.image_key).ok());
    if (face) o.embedding = testing::PrimaryOf(face->embeddings);
    auto decided = stores_.sightings->RecordDecision(o, {VisitChoice::Kind::kStart, 0});
    EXPECT_TRUE(decided.ok()) << decided.status().ToString();
    return decided.ok() ? decided->sighting : s;
  }

  // Counts rows of `table` whose `column` equals `value`.
  int64_t Rows(const std::string& table, const std::string& column, const std::string& value) {
    return stores_.db
        ->WithConnection([&](Connection& c) -> Result<int64_t> {
          ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT COUNT(*) FROM " + table + " WHERE " +
                                                     column + " = ?"));
          ASSIGN_OR_RETURN(const bool row, stmt.BindText(value).Step());
          return row ? stmt.ColumnInt(0) : 0;
        })
        .value();
  }

  testing::TempDir dir_;
  Config config_;
  testing::NotifierStores stores_;
  std::unique_ptr<Matcher> matcher_;
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<Authenticator> auth_;
  EventStream events_;
  std::unique_ptr<HttpServer> server_;
  std::string admin_, viewer_;
};


TEST_F(HttpDataTest, EveryEndpointNeedsAuthenticationAndAdminForChanges) {
  ExpectGuarded("GET", "/api/v1/sightings", false);
  ExpectGuarded("GET", "/api/v1/sightings/s-1", false);
  ExpectGuarded("GET", "/api/v1/sightings/s-1/image", false);
  ExpectGuarded("GET", "/api/v1/visits", false);
  ExpectGuarded("GET", "/api/v1/visits/1", false);
  ExpectGuarded("GET", "/api/v1/events", false);
  ExpectGuarded("GET", "/api/v1/unknowns", false);
  ExpectGuarded("POST", "/api/v1/unknowns/1/tag", true);
  ExpectGuarded("POST", "/api/v1/unknowns/1/ignore", true);
  ExpectGuarded("GET", "/api/v1/unknowns/1", false);
  ExpectGuarded("GET", "/api/v1/unknowns/1/sightings", false);
  ExpectGuarded("POST", "/api/v1/unknowns/1/merge", true);
  ExpectGuarded("POST", "/api/v1/unknowns/1/split", true);
  ExpectGuarded("GET", "/api/v1/people", false);
  ExpectGuarded("POST", "/api/v1/people", true);
  ExpectGuarded("GET", "/api/v1/people/obama", false);
  ExpectGuarded("PATCH", "/api/v1/people/obama", true);
  ExpectGuarded("POST", "/api/v1/people/obama/merge", true);
  ExpectGuarded("PUT", "/api/v1/people/obama/preferences", true);
  ExpectGuarded("POST", "/api/v1/people/obama/faces", true);
  ExpectGuarded("GET", "/api/v1/people/obama/faces", false);
  ExpectGuarded("DELETE", "/api/v1/people/obama/faces/1", true);
  ExpectGuarded("GET", "/api/v1/faces/1/image", false);
  ExpectGuarded("POST", "/api/v1/people/obama/forget", true);
  ExpectGuarded("POST", "/api/v1/recognize", false);
}

TEST_F(HttpDataTest, SightingsPageByCursorAndFilter) {
  const int kSightings = 7;
  for (int i = 0; i < kSightings; ++i)
    Seen("s-" + std::to_string(i), kT0 + i * 1000, kBiden,
         i % 2 ? std::optional<std::string>() : std::optional<std::string>("obama"),
         i < 3 ? "back" : "door");

  std::vector<std::string> walked;
  std::string cursor;
  int pages = 0;
  do {
    Reply page =
        Get("/api/v1/sightings?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), viewer_);
    ASSERT_EQ(page.status, 200) << page.body;
    const json doc = page.doc();
    for (const auto& item : doc["items"]) walked.push_back(item["id"]);
    cursor = doc["next_cursor"].is_null() ? "" : doc["next_cursor"].get<std::string>();
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(walked, (std::vector<std::string>{"s-6", "s-5", "s-4", "s-3", "s-2", "s-1", "s-0"}));

  auto ids = [&](const std::string& query) {
    std::vector<std::string> out;
    Reply r = Get("/api/v1/sightings?" + query, viewer_);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    const json doc = r.doc();
    if (r.status == 200)
      for (const auto& item : doc["items"]) out.push_back(item["id"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("camera=back"), (V{"s-2", "s-1", "s-0"}));
  EXPECT_EQ(ids("person=obama&camera=door"), (V{"s-6", "s-4"}));
  EXPECT_EQ(ids("unknown=true"), (V{"s-5", "s-3", "s-1"}));
  EXPECT_EQ(ids("since=" + std::to_string(kT0 + 2000) + "&until=" + std::to_string(kT0 + 4000)),
            (V{"s-3", "s-2"}));
  EXPECT_EQ(ids("since=" + FormatIsoUtc(kT0 + 5000)), (V{"s-6", "s-5"}));

  Reply one = Get("/api/v1/sightings/s-4", viewer_);
  ASSERT_EQ(one.status, 200) << one.body;
  const json s4 = one.doc();
  EXPECT_EQ(s4["person"]["id"], "obama");
  EXPECT_EQ(s4["decision"], "known");
  EXPECT_EQ(s4["captured_ms"], kT0 + 4000);
  EXPECT_EQ(s4["time"], FormatIsoUtc(kT0 + 4000));
  EXPECT_EQ(s4["image_url"], "/api/v1/sightings/s-4/image");
  EXPECT_TRUE(s4["visit"].is_number());

  Reply image = Get("/api/v1/sightings/s-4/image", viewer_);
  ASSERT_EQ(image.status, 200);
  EXPECT_EQ(image.type, "image/jpeg");
  EXPECT_EQ(image.body, testing::ReadFile(testing::DataPath(kBiden)));

  // Paging bounds and bad input.
  for (const std::string& bad : std::vector<std::string>{
           "limit=0", "limit=501", "limit=abc", "limit=-1", "cursor=%%%", "cursor=bm9wZQ",
           "unknown=yes", "since=yesterday", "person=..", "camera=" + std::string(200, 'c')}) {
    Reply r = Get("/api/v1/sightings?" + bad, viewer_);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_EQ(r.code(), "bad_request") << bad;
  }
  EXPECT_EQ(Get("/api/v1/sightings?limit=500", viewer_).status, 200);
  EXPECT_EQ(Get("/api/v1/sightings/nope", viewer_).status, 404);
  EXPECT_EQ(Get("/api/v1/sightings/nope/image", viewer_).status, 404);
  EXPECT_EQ(Get("/api/v1/sightings/a%20b", viewer_).status, 400);
}

TEST_F(HttpDataTest, VisitsPageWithTheirSightings) {
  for (int i = 0; i < 5; ++i)
    Seen("v-" + std::to_string(i), kT0 + i * 1000, kBiden,
         i == 2 ? std::optional<std::string>() : std::optional<std::string>("obama"),
         i == 2 ? "lobby" : "door");
  std::vector<int64_t> walked;
  std::string cursor;
  int pages = 0;
  do {
    Reply page =
        Get("/api/v1/visits?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), viewer_);
    ASSERT_EQ(page.status, 200) << page.body;
    const json doc = page.doc();
    for (const auto& item : doc["items"]) walked.push_back(item["id"]);
    const json next = doc["next_cursor"];
    cursor = next.is_null() ? "" : next.get<std::string>();
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  ASSERT_EQ(walked.size(), 5u);
  EXPECT_EQ(std::set<int64_t>(walked.begin(), walked.end()).size(), 5u);
  EXPECT_GT(walked.front(), walked.back());  // latest first

  Reply strangers = Get("/api/v1/visits?unknown=true", viewer_);
  ASSERT_EQ(strangers.status, 200);
  ASSERT_EQ(strangers.doc()["items"].size(), 1u);
  const json stranger = strangers.doc()["items"][0];
  EXPECT_TRUE(stranger["person"].is_null());
  EXPECT_EQ(stranger["best_sighting_id"], "v-2");
  EXPECT_EQ(stranger["image_url"], "/api/v1/sightings/v-2/image");
  EXPECT_EQ(Get("/api/v1/visits?person=obama", viewer_).doc()["items"].size(), 4u);
  Reply lobby = Get("/api/v1/visits?camera=lobby", viewer_);
  ASSERT_EQ(lobby.status, 200) << lobby.body;
  ASSERT_EQ(lobby.doc()["items"].size(), 1u);
  EXPECT_EQ(lobby.doc()["items"][0]["id"], stranger["id"]);
  EXPECT_TRUE(Get("/api/v1/visits?camera=lobby&person=obama", viewer_).doc()["items"].empty());
  EXPECT_EQ(Get("/api/v1/visits?camera=", viewer_).status, 400);
  EXPECT_EQ(Get("/api/v1/visits?camera=" + std::string(200, 'c'), viewer_).status, 400);

  Reply one = Get("/api/v1/visits/" + std::to_string(stranger["id"].get<int64_t>()), viewer_);
  ASSERT_EQ(one.status, 200) << one.body;
  ASSERT_EQ(one.doc()["sightings_list"].size(), 1u);
  EXPECT_EQ(one.doc()["sightings_list"][0]["id"], "v-2");
  EXPECT_EQ(one.doc()["started_ms"], kT0 + 2000);

  EXPECT_EQ(Get("/api/v1/visits/999", viewer_).status, 404);
  EXPECT_EQ(Get("/api/v1/visits/abc", viewer_).status, 400);
  EXPECT_EQ(Get("/api/v1/visits/-1", viewer_).status, 400);
  EXPECT_EQ(Get("/api/v1/visits?limit=501", viewer_).status, 400);
  EXPECT_EQ(Get("/api/v1/visits?cursor=" + std::string(600, 'A'), viewer_).status, 400);
}

TEST_F(HttpDataTest, EventsStreamSightingsAndVisitsUntilTheClientLeaves) {
  std::mutex mu;
  std::string received;
  std::atomic<bool> done{false};
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(30, 0);
    c.Get("/api/v1/events", As(viewer_), [&](const char* data, size_t n) {
      std::lock_guard lock(mu);
      received.append(data, n);
      return received.find("event: visit") == std::string::npos;  // leave after the visit
    });
    done = true;
  });
  // Publish until the stream (subscribed once the request arrived) passes one on.
  SightingRecord s = Seen("e-1", kT0, kBiden, "obama");
  auto visit = stores_.sightings->GetVisit(*s.visit_id);
  ASSERT_OK(visit);
  for (int i = 0; i < 300 && !done; ++i) {
    events_.Publish(SightingEvent{SightingEvent::Kind::kDecided, s});
    events_.Publish(VisitEvent{VisitEvent::Kind::kStarted, *visit, s.id});
    std::this_thread::sleep_for(100ms);
  }
  client.join();
  std::lock_guard lock(mu);
  EXPECT_NE(received.find("event: sighting\ndata: {"), std::string::npos) << received;
  EXPECT_NE(received.find("\"id\":\"e-1\""), std::string::npos);
  EXPECT_NE(received.find("event: visit\ndata: {"), std::string::npos);
}

TEST_F(HttpDataTest, StoppingTheServerEndsOpenEventStreams) {
  std::atomic<bool> receiving{false};
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(300, 0);
    c.Get("/api/v1/events", As(viewer_), [&](const char*, size_t) {
      receiving = true;
      return true;  // never leaves by itself
    });
  });
  SightingRecord s = Seen("stop-1", kT0, kBiden, "obama");
  for (int i = 0; i < 300 && !receiving; ++i) {
    events_.Publish(SightingEvent{SightingEvent::Kind::kDecided, s});
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(receiving);
  server_->Stop();  // returns only once the stream ended
  client.join();
}

// Opens /api/v1/events with `headers` on a thread, waits until it carries an
// event, runs `end_access`, and returns how long the stream then stayed open
// (or nullopt when it was still open after 15 s).
std::optional<std::chrono::milliseconds> StreamLifeAfter(
    int port, const httplib::Headers& headers, EventStream& events, const SightingRecord& s,
    const std::function<void()>& end_access, HttpServer& server) {
  std::atomic<bool> receiving{false}, ended{false};
  std::thread client([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    c.Get("/api/v1/events", headers, [&](const char*, size_t) {
      receiving = true;
      return true;  // never leaves by itself
    });
    ended = true;
  });
  for (int i = 0; i < 300 && !receiving; ++i) {
    events.Publish(SightingEvent{SightingEvent::Kind::kDecided, s});
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(receiving);
  end_access();
  const auto start = std::chrono::steady_clock::now();
  while (!ended && std::chrono::steady_clock::now() - start < 15s) {
    events.Publish(SightingEvent{SightingEvent::Kind::kDecided, s});
    std::this_thread::sleep_for(50ms);
  }
  const auto life = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  const bool ended_by_itself = ended;
  if (!ended_by_itself) server.Stop();  // so the thread can be joined
  client.join();
  if (!ended_by_itself) return std::nullopt;
  return life;
}

TEST_F(HttpDataTest, EventStreamsEndWithinSecondsOfRevocationOrLogout) {
  SightingRecord s = Seen("rev-1", kT0, kBiden, "obama");
  auto token = auth_->CreateToken("dashboard", "vic");
  ASSERT_OK(token);
  auto by_token = StreamLifeAfter(
      server_->port(), As(token->token), events_, s,
      [&] { ASSERT_OK(auth_->RevokeToken(token->id)); }, *server_);
  ASSERT_TRUE(by_token.has_value()) << "the stream outlived its revoked token";
  EXPECT_LT(by_token->count(), 5000);

  auto login = auth_->Login("vic", testing::kApiViewerPassword, "127.0.0.1");
  ASSERT_OK(login);
  ASSERT_EQ(login->outcome, LoginResult::Outcome::kOk);
  const Session session = login->session;
  const httplib::Headers cookie = {
      {"Cookie", std::string(kSessionCookie) + "=" + session.session_id}};
  auto by_session = StreamLifeAfter(
      server_->port(), cookie, events_, s,
      [&] {
        httplib::Headers logout = cookie;
        logout.emplace(kCsrfHeader, session.csrf_token);
        auto r = Client().Post("/api/v1/logout", logout, "", "application/json");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 204);
      },
      *server_);
  ASSERT_TRUE(by_session.has_value()) << "the stream outlived its session";
  EXPECT_LT(by_session->count(), 5000);
}

TEST_F(HttpDataTest, PeopleCreateRenameEnrolFacesAndRecognize) {
  Reply created = Post("/api/v1/people", admin_, json{{"name", "Barack Obama"}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.doc()["id"], "barack-obama");
  EXPECT_EQ(created.doc()["faces"], 0);
  EXPECT_TRUE(created.doc()["thumbnail_url"].is_null()) << "no face, no thumbnail";
  EXPECT_EQ(Post("/api/v1/people", admin_, json{{"name", "Barack Obama"}}.dump()).doc()["id"],
            "barack-obama-2");
  Reply with_id = Post("/api/v1/people", admin_, json{{"name", "Joe"}, {"id", "biden"}}.dump());
  EXPECT_EQ(with_id.status, 201) << with_id.body;
  EXPECT_EQ(Post("/api/v1/people", admin_, json{{"name", "Joe"}, {"id", "biden"}}.dump()).status,
            409);
  EXPECT_EQ(Post("/api/v1/people", admin_, json{{"name", "X"}, {"id", "../x"}}.dump()).status, 400);
  EXPECT_EQ(Post("/api/v1/people", admin_, json{{"name", ""}}.dump()).status, 400);
  EXPECT_EQ(Post("/api/v1/people", admin_, json{{"name", 5}}.dump()).status, 400);
  EXPECT_EQ(Post("/api/v1/people", admin_, "{not json").status, 400);
  EXPECT_EQ(Post("/api/v1/people", admin_, "name=x", "text/plain").status, 415);

  Reply renamed = Patch("/api/v1/people/barack-obama", admin_, {{"name", "Obama"}});
  ASSERT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(renamed.doc()["name"], "Obama");
  EXPECT_EQ(Patch("/api/v1/people/nobody", admin_, {{"name", "x"}}).status, 404);
  EXPECT_EQ(Patch("/api/v1/people/barack-obama", admin_, {{"name", std::string(200, 'x')}}).status,
            400);

  // Enrol: one good photo, one with two faces, one without a face.
  Reply enrolled = PostPhotos(
      "/api/v1/people/barack-obama/faces", admin_,
      {testing::DataPath(kObama), testing::DataPath(kTwoPeople), testing::DataPath(kNoFace)});
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  const json results = enrolled.doc()["results"];
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0]["accepted"]);
  EXPECT_TRUE(results[0]["quality"]["passes"]);
  EXPECT_TRUE(results[0]["reasons"].empty());
  EXPECT_FALSE(results[1]["accepted"]);
  EXPECT_EQ(results[1]["faces_found"], 2);
  EXPECT_FALSE(results[1]["reasons"].empty());
  EXPECT_FALSE(results[2]["accepted"]);
  EXPECT_EQ(results[2]["faces_found"], 0);
  const int64_t face_id = results[0]["face_id"];

  // Raw body upload.
  Reply raw = Post("/api/v1/people/biden/faces", admin_,
                   testing::ReadFile(testing::DataPath(kBiden)), "image/jpeg");
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_TRUE(raw.doc()["results"][0]["accepted"]);

  Reply faces = Get("/api/v1/people/barack-obama/faces", viewer_);
  ASSERT_EQ(faces.status, 200) << faces.body;
  ASSERT_EQ(faces.doc()["items"].size(), 1u);
  EXPECT_EQ(faces.doc()["items"][0]["id"], face_id);
  EXPECT_EQ(faces.doc()["items"][0]["origin"], "enrolled");
  Reply face_image = Get(faces.doc()["items"][0]["image_url"].get<std::string>(), viewer_);
  EXPECT_EQ(face_image.status, 200);
  EXPECT_EQ(face_image.type, "image/jpeg");
  EXPECT_EQ(Get("/api/v1/faces/99999/image", viewer_).status, 404);
  const json obama = Get("/api/v1/people/barack-obama", viewer_).doc();
  EXPECT_EQ(obama["faces"], 1);
  EXPECT_EQ(obama["thumbnail_url"], faces.doc()["items"][0]["image_url"]) << "his one face";
  EXPECT_EQ(Get("/api/v1/people/nobody", viewer_).status, 404);
  EXPECT_EQ(Get("/api/v1/people/a%20b", viewer_).status, 400);

  // Another photo of him is recognised; a stranger is not.
  Reply recognised = Post("/api/v1/recognize", viewer_,
                          testing::ReadFile(testing::DataPath(kObama2)), "image/jpeg");
  ASSERT_EQ(recognised.status, 200) << recognised.body;
  const json found = recognised.doc()["faces"];
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["person"]["id"], "barack-obama");
  EXPECT_EQ(found[0]["person"]["name"], "Obama");
  EXPECT_GT(found[0]["similarity"].get<float>(),
            matcher_->calibration().primary_threshold - matcher_->calibration().band_below);
  EXPECT_GT(found[0]["box"]["w"].get<int>(), 20);
  EXPECT_TRUE(found[0]["quality"].contains("passes"));
  EXPECT_TRUE(found[0]["live_score"].is_number());
  Reply stranger = PostPhotos("/api/v1/recognize", viewer_, {testing::DataPath(kBlair)});
  ASSERT_EQ(stranger.status, 200) << stranger.body;
  ASSERT_EQ(stranger.doc()["faces"].size(), 1u);
  EXPECT_TRUE(stranger.doc()["faces"][0]["person"].is_null());

  // People list pages by id.
  Reply first = Get("/api/v1/people?limit=2", viewer_);
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.doc()["items"].size(), 2u);
  EXPECT_EQ(first.doc()["items"][0]["id"], "barack-obama");
  const std::string next = first.doc()["next_cursor"];
  Reply second = Get("/api/v1/people?limit=2&cursor=" + next, viewer_);
  ASSERT_EQ(second.doc()["items"].size(), 1u);
  EXPECT_EQ(second.doc()["items"][0]["id"], "biden");
  EXPECT_TRUE(second.doc()["next_cursor"].is_null());
  EXPECT_EQ(Get("/api/v1/people?limit=0", viewer_).status, 400);

  // Deleting a face: only the person's own, then it is gone with its picture.
  EXPECT_EQ(Delete("/api/v1/people/biden/faces/" + std::to_string(face_id), admin_).status, 404);
  EXPECT_EQ(Delete("/api/v1/people/barack-obama/faces/x", admin_).status, 400);
  EXPECT_EQ(Delete("/api/v1/people/barack-obama/faces/" + std::to_string(face_id), admin_).status,
            204);
  EXPECT_EQ(Get("/api/v1/faces/" + std::to_string(face_id) + "/image", viewer_).status, 404);
  EXPECT_TRUE(stores_.objects->List("faces/barack-obama/")->empty());
}

TEST_F(HttpDataTest, UploadsAreCheckedBeforeDecoding) {
  ASSERT_OK(stores_.faces->AddPerson({"obama", "Obama", "", 0}));
  for (const std::string path : {"/api/v1/recognize", "/api/v1/people/obama/faces"}) {
    SCOPED_TRACE(path);
    Reply bomb = Post(path, admin_, testing::PngBombHeader(100000, 100000), "image/png");
    EXPECT_EQ(bomb.status, 413) << bomb.body;
    EXPECT_EQ(bomb.code(), "payload_too_large");
    Reply big = Post(path, admin_, std::string(3 * 1024 * 1024, 'x'), "image/jpeg");
    EXPECT_EQ(big.status, 413) << big.body;
    Reply text = Post(path, admin_, "hello", "text/plain");
    EXPECT_EQ(text.status, 415) << text.body;
    EXPECT_EQ(text.code(), "unsupported_media_type");
    Reply gif = Post(path, admin_, "GIF89a\x01\x00\x01\x00", "image/jpeg");
    EXPECT_EQ(gif.status, 415) << gif.body;
    httplib::MultipartFormDataItems wrong_field{{"photo", "x", "x.jpg", "image/jpeg"}};
    EXPECT_EQ(From(Client().Post(path.c_str(), As(admin_), wrong_field)).status, 400);
  }
  std::string truncated = testing::ReadFile(testing::DataPath(kObama));
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(Post("/api/v1/recognize", admin_, truncated, "image/jpeg").status, 400);
  Reply enrol = Post("/api/v1/people/obama/faces", admin_, truncated, "image/jpeg");
  ASSERT_EQ(enrol.status, 200) << enrol.body;
  EXPECT_FALSE(enrol.doc()["results"][0]["accepted"]);
  EXPECT_EQ(Post("/api/v1/people/nobody/faces", admin_,
                 testing::ReadFile(testing::DataPath(kObama)), "image/jpeg")
                .status,
            404);
  Reply nothing = Post("/api/v1/recognize", admin_, testing::ReadFile(testing::DataPath(kNoFace)),
                       "image/jpeg");
  ASSERT_EQ(nothing.status, 200) << nothing.body;
  EXPECT_TRUE(nothing.doc()["faces"].empty());
}

TEST_F(HttpDataTest, UnknownIsTaggedAsANewPersonAndThenRecognised) {
  const FaceObservation blair = Face(kBlair);
  SightingRecord s = Seen("u-1", kT0, kBlair, std::nullopt, "door", blair);
  auto assigned = stores_.clusters->Assign(s);
  ASSERT_OK(assigned);
  const std::string id = std::to_string(assigned->cluster.id);
  SightingRecord other = Seen("u-2", kT0 + 1000, kBiden, std::nullopt, "door", Face(kBiden));
  auto other_cluster = stores_.clusters->Assign(other);
  ASSERT_OK(other_cluster);
  ASSERT_NE(other_cluster->cluster.id, assigned->cluster.id);

  Reply open = Get("/api/v1/unknowns?state=open", viewer_);
  ASSERT_EQ(open.status, 200) << open.body;
  ASSERT_EQ(open.doc()["items"].size(), 2u);
  Reply paged = Get("/api/v1/unknowns?state=open&limit=1", viewer_);
  ASSERT_EQ(paged.doc()["items"].size(), 1u);
  const std::string next = paged.doc()["next_cursor"];
  Reply rest = Get("/api/v1/unknowns?state=open&limit=1&cursor=" + next, viewer_);
  ASSERT_EQ(rest.status, 200) << rest.body;
  ASSERT_EQ(rest.doc()["items"].size(), 1u);
  EXPECT_NE(rest.doc()["items"][0]["id"], paged.doc()["items"][0]["id"]);
  EXPECT_EQ(Get("/api/v1/unknowns?state=lost", viewer_).status, 400);
  EXPECT_EQ(Get("/api/v1/unknowns?limit=9999", viewer_).status, 400);

  EXPECT_EQ(Post("/api/v1/unknowns/" + id + "/tag", admin_, "{}").status, 400);
  EXPECT_EQ(
      Post("/api/v1/unknowns/" + id + "/tag", admin_, json{{"person_id", "ghost"}}.dump()).status,
      404);
  EXPECT_EQ(Post("/api/v1/unknowns/999/tag", admin_, json{{"name", "X"}}.dump()).status, 404);
  EXPECT_EQ(Post("/api/v1/unknowns/abc/tag", admin_, json{{"name", "X"}}.dump()).status, 400);
  Reply tagged =
      Post("/api/v1/unknowns/" + id + "/tag", admin_, json{{"name", "Tony Blair"}}.dump());
  ASSERT_EQ(tagged.status, 200) << tagged.body;
  EXPECT_EQ(tagged.doc()["state"], "tagged");
  EXPECT_EQ(tagged.doc()["person"]["name"], "Tony Blair");
  EXPECT_TRUE(tagged.doc()["person_created"]);
  const std::string person = tagged.doc()["person"]["id"];

  Reply recognised = Post("/api/v1/recognize", viewer_,
                          testing::ReadFile(testing::DataPath(kBlair2)), "image/jpeg");
  ASSERT_EQ(recognised.status, 200) << recognised.body;
  const json faces = recognised.doc()["faces"];
  ASSERT_EQ(faces.size(), 1u);
  EXPECT_EQ(faces[0]["person"]["id"], person);

  const std::string other_id = std::to_string(other_cluster->cluster.id);
  EXPECT_EQ(Post("/api/v1/unknowns/" + other_id + "/ignore", admin_).status, 204);
  EXPECT_EQ(Post("/api/v1/unknowns/" + other_id + "/ignore", admin_).status, 204);  // idempotent
  EXPECT_EQ(
      Post("/api/v1/unknowns/" + other_id + "/tag", admin_, json{{"name", "Joe"}}.dump()).status,
      409);
  Reply ignored = Get("/api/v1/unknowns?state=ignored", viewer_);
  ASSERT_EQ(ignored.doc()["items"].size(), 1u);
  EXPECT_TRUE(ignored.doc()["items"][0]["image_url"].is_null());
  EXPECT_TRUE(stores_.objects->List("unknown/")->empty());
}

TEST_F(HttpDataTest, StrangerCardsAreMergedAndSplitByHand) {
  auto blair =
      stores_.clusters->Assign(Seen("u-1", kT0, kBlair, std::nullopt, "door", Face(kBlair)));
  auto biden =
      stores_.clusters->Assign(Seen("u-2", kT0 + 1000, kBiden, std::nullopt, "door", Face(kBiden)));
  ASSERT_OK(blair);
  ASSERT_OK(biden);
  ASSERT_NE(blair->cluster.id, biden->cluster.id);
  const std::string into = std::to_string(blair->cluster.id);
  const int64_t from = biden->cluster.id;

  const std::string merge = "/api/v1/unknowns/" + into + "/merge";
  for (const json& bad : {json::object(), json{{"from", "x"}}, json{{"from", json::array()}},
                          json{{"from", {0}}}, json{{"from", {"2"}}},
                          json{{"from", {blair->cluster.id}}}, json{{"from", {from, from}}}}) {
    EXPECT_EQ(Post(merge, admin_, bad.dump()).status, 400) << bad.dump();
  }
  EXPECT_EQ(Post(merge, admin_, json{{"from", json(std::vector<int>(101, 7))}}.dump()).status, 400);
  EXPECT_EQ(Post(merge, admin_, json{{"from", {999}}}.dump()).status, 404);
  EXPECT_EQ(Post("/api/v1/unknowns/999/merge", admin_, json{{"from", {from}}}.dump()).status, 404);
  Reply merged = Post(merge, admin_, json{{"from", {from}}}.dump());
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(merged.doc()["id"], blair->cluster.id);
  EXPECT_EQ(merged.doc()["sightings"], 2);
  EXPECT_EQ(Get("/api/v1/unknowns/" + std::to_string(from), viewer_).status, 404);
  EXPECT_EQ(Post(merge, admin_, json{{"from", {from}}}.dump()).status, 404);  // gone now

  Reply members = Get("/api/v1/unknowns/" + into + "/sightings", viewer_);
  ASSERT_EQ(members.status, 200) << members.body;
  ASSERT_EQ(members.doc()["items"].size(), 2u);
  EXPECT_EQ(members.doc()["items"][0]["id"], "u-2");  // newest first
  EXPECT_EQ(members.doc()["items"][1]["id"], "u-1");
  Reply first = Get("/api/v1/unknowns/" + into + "/sightings?limit=1", viewer_);
  ASSERT_EQ(first.doc()["items"].size(), 1u);
  Reply second = Get("/api/v1/unknowns/" + into + "/sightings?limit=1&cursor=" +
                         first.doc()["next_cursor"].get<std::string>(),
                     viewer_);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.doc()["items"][0]["id"], "u-1");
  EXPECT_TRUE(second.doc()["next_cursor"].is_null());
  EXPECT_EQ(Get("/api/v1/unknowns/999/sightings", viewer_).status, 404);

  const std::string split = "/api/v1/unknowns/" + into + "/split";
  for (const json& bad :
       {json::object(), json{{"sightings", json::array()}}, json{{"sightings", {1}}},
        json{{"sightings", {"../u-2"}}}, json{{"sightings", {"u-9"}}},
        json{{"sightings", {"u-1", "u-2"}}}}) {
    EXPECT_EQ(Post(split, admin_, bad.dump()).status, 400) << bad.dump();
  }
  EXPECT_EQ(Post(split, viewer_, json{{"sightings", {"u-2"}}}.dump()).status, 403);
  Reply created = Post(split, admin_, json{{"sightings", {"u-2"}}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_NE(created.doc()["id"], blair->cluster.id);
  EXPECT_EQ(created.doc()["sightings"], 1);
  EXPECT_EQ(created.doc()["state"], "open");
  EXPECT_EQ(created.doc()["best_sighting_id"], "u-2");
  Reply left = Get("/api/v1/unknowns/" + into, viewer_);
  ASSERT_EQ(left.status, 200) << left.body;
  EXPECT_EQ(left.doc()["sightings"], 1);
  EXPECT_EQ(left.doc()["best_sighting_id"], "u-1");

  auto audit = stores_.audit->List(10);
  ASSERT_OK(audit);
  std::vector<std::string> actions;
  for (const auto& entry : audit->items) actions.push_back(entry.action);
  EXPECT_NE(std::find(actions.begin(), actions.end(), "cluster.merge"), actions.end());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "cluster.split"), actions.end());
}

TEST_F(HttpDataTest, EnrollingSomeoneAnswersTheOpenQuestionsThatWereThem) {
  SightingRecord blair = Seen("u-1", kT0, kBlair, std::nullopt, "door", Face(kBlair));
  auto cluster = stores_.clusters->Assign(blair);
  ASSERT_OK(cluster);
  SightingRecord biden = Seen("u-2", kT0 + 1000, kBiden, std::nullopt, "door", Face(kBiden));
  auto other = stores_.clusters->Assign(biden);
  ASSERT_OK(other);

  ASSERT_EQ(Post("/api/v1/people", admin_, json{{"name", "Tony Blair"}}.dump()).status, 201);
  Reply enrolled =
      PostPhotos("/api/v1/people/tony-blair/faces", admin_, {testing::DataPath(kBlair2)});
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  EXPECT_EQ(enrolled.doc()["strangers_resolved"], json::array({cluster->cluster.id}));
  Reply tagged = Get("/api/v1/unknowns?state=tagged", viewer_);
  ASSERT_EQ(tagged.status, 200) << tagged.body;
  ASSERT_EQ(tagged.doc()["items"].size(), 1u);
  EXPECT_EQ(tagged.doc()["items"][0]["id"], cluster->cluster.id);
  EXPECT_EQ(tagged.doc()["items"][0]["person"]["id"], "tony-blair");
  EXPECT_EQ(stores_.sightings->Get("u-1")->person_id.value_or(""), "tony-blair");
  EXPECT_FALSE(stores_.sightings->Get("u-2")->person_id.has_value()) << "Biden is still a stranger";
  Reply open = Get("/api/v1/unknowns?state=open", viewer_);
  ASSERT_EQ(open.doc()["items"].size(), 1u);
}

TEST_F(HttpDataTest, SearchByPhotoFindsEveryVisitOfThatFaceNewestFirst) {
  ASSERT_OK(stores_.faces->AddPerson({"tony", "Tony Blair", "", 0}));
  Seen("s-1", kT0, kBlair, std::nullopt, "door", Face(kBlair));                // a stranger then
  Seen("s-2", kT0 + 3'600'000, kBlair2, "tony", "lobby", Face(kBlair2));   // named later
  Seen("s-3", kT0 + 7'200'000, kBiden, std::nullopt, "door", Face(kBiden));  // someone else
  Reply found = PostPhotos("/api/v1/search", viewer_, {testing::DataPath(kBlair2)});
  ASSERT_EQ(found.status, 200) << found.body;
  const json items = found.doc()["items"];
  ASSERT_EQ(items.size(), 2u) << items.dump(2);
  EXPECT_EQ(items[0]["matched_sighting_id"], "s-2");
  EXPECT_EQ(items[0]["person"]["id"], "tony");
  EXPECT_EQ(items[0]["camera"], "lobby");
  EXPECT_GT(items[0]["similarity"].get<double>(), 0.99);  // the very photo
  EXPECT_EQ(items[1]["matched_sighting_id"], "s-1");
  EXPECT_TRUE(items[1]["person"].is_null());
  EXPECT_GT(items[0]["started_ms"].get<int64_t>(), items[1]["started_ms"].get<int64_t>());
  EXPECT_LT(items[1]["similarity"].get<double>(), items[0]["similarity"].get<double>());

  // Someone never seen: no visits. Bad input: a clear error.
  Reply nobody = PostPhotos("/api/v1/search", viewer_, {testing::DataPath(kObama)});
  ASSERT_EQ(nobody.status, 200) << nobody.body;
  EXPECT_TRUE(nobody.doc()["items"].empty());
  EXPECT_EQ(PostPhotos("/api/v1/search", viewer_, {testing::DataPath(kNoFace)}).status, 400);
  EXPECT_EQ(Post("/api/v1/search", viewer_, "not an image", "image/jpeg").status, 415);
  EXPECT_EQ(Post("/api/v1/search", viewer_, "{}", "application/json").status, 415);
  EXPECT_EQ(PostPhotos("/api/v1/search", viewer_,
                       {testing::DataPath(kBlair), testing::DataPath(kBlair2)})
                .status,
            400);
  EXPECT_EQ(Post("/api/v1/search", "", testing::ReadFile(testing::DataPath(kBlair)), "image/jpeg")
                .status,
            401);
}

TEST_F(HttpDataTest, PreferencesAreSetWholeCheckedAndAudited) {
  ASSERT_OK(stores_.faces->AddPerson({"obama", "Obama", "", 0}));
  ASSERT_OK(stores_.faces->AddPerson({"ana", "Ana", "U0ANA", 0}));
  Reply fresh = Get("/api/v1/people/obama", viewer_);
  ASSERT_EQ(fresh.status, 200);
  EXPECT_EQ(fresh.doc()["preferences"],
            (json{{"greeting", "usual"}, {"alerts", "none"}, {"host", nullptr}}));

  const json wanted = {{"greeting", "once_a_day"}, {"alerts", "strangers"}, {"host", "ana"}};
  Reply set = Put("/api/v1/people/obama/preferences", admin_, wanted.dump());
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.doc()["preferences"], wanted);
  EXPECT_EQ(Get("/api/v1/people/obama", viewer_).doc()["preferences"], wanted);
  EXPECT_EQ(stores_.faces->GetPerson("obama")->preferences.host, "ana");
  auto audit = stores_.audit->List(1, "");
  ASSERT_OK(audit);
  EXPECT_EQ(audit->items.at(0).action, "person.preferences");
  EXPECT_EQ(audit->items.at(0).detail, wanted);

  // Bad input: a clear error, and nothing changes.
  for (const auto& [body, status] : std::vector<std::pair<std::string, int>>{
           {R"({"greeting": "loudly"})", 400},
           {R"({"greeting": 1})", 400},
           {R"({"alerts": ["strangers"]})", 400},
           {R"({"host": 5})", 400},
           {R"({"host": "../etc"})", 400},
           {R"({"colour": "red"})", 400},
           {R"([])", 400},
           {R"({"host": "obama"})", 400},
           {R"({"host": "ghost"})", 404}}) {
    Reply bad = Put("/api/v1/people/obama/preferences", admin_, body);
    EXPECT_EQ(bad.status, status) << body << " -> " << bad.body;
  }
  EXPECT_EQ(Put("/api/v1/people/ghost/preferences", admin_, "{}").status, 404);
  EXPECT_EQ(Put("/api/v1/people/obama/preferences", viewer_, "{}").status, 403);
  EXPECT_EQ(Get("/api/v1/people/obama", viewer_).doc()["preferences"], wanted);

  // Missing keys take their defaults: the body is the whole preference set.
  Reply reset = Put("/api/v1/people/obama/preferences", admin_, "{}");
  ASSERT_EQ(reset.status, 200);
  EXPECT_EQ(reset.doc()["preferences"]["greeting"], "usual");
  EXPECT_TRUE(reset.doc()["preferences"]["host"].is_null());
}

TEST_F(HttpDataTest, MergeMovesFacesAndSightingsToTheSurvivor) {
  ASSERT_OK(stores_.faces->AddPerson({"obama", "Obama", "", 0}));
  ASSERT_OK(stores_.faces->AddPerson({"barack", "Barack", "", 0}));
  ASSERT_EQ(PostPhotos("/api/v1/people/barack/faces", admin_, {testing::DataPath(kObama)}).status,
            200);
  ASSERT_OK(stores_.faces->SetExternalId("barack", "U0BARACK"));
  const SightingRecord seen = Seen("m-1", kT0, kObama, "barack");
  ASSERT_EQ(seen.image_key, "known/barack/m-1.jpg");
  EXPECT_EQ(Post("/api/v1/people/obama/merge", admin_, json{{"from", "obama"}}.dump()).status, 400);
  EXPECT_EQ(Post("/api/v1/people/obama/merge", admin_, json{{"from", "ghost"}}.dump()).status, 404);
  EXPECT_EQ(Post("/api/v1/people/obama/merge", admin_, json{{"from", 3}}.dump()).status, 400);
  Reply merged = Post("/api/v1/people/obama/merge", admin_, json{{"from", "barack"}}.dump());
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(merged.doc()["faces"], 1);
  EXPECT_EQ(Get("/api/v1/people/barack", viewer_).status, 404);
  const SightingRecord relabelled = *stores_.sightings->Get("m-1");
  EXPECT_EQ(relabelled.person_id, "obama");
  // The sighting's picture moved with it (none is left under the duplicate's name).
  EXPECT_EQ(relabelled.image_key.rfind("known/obama/", 0), 0u) << relabelled.image_key;
  EXPECT_TRUE(*stores_.objects->Exists(relabelled.image_key));
  EXPECT_TRUE(stores_.objects->List("known/barack/")->empty());
  Reply visit = Get("/api/v1/visits/" + std::to_string(*relabelled.visit_id), viewer_);
  ASSERT_EQ(visit.status, 200) << visit.body;
  EXPECT_EQ(visit.doc()["person"]["id"], "obama");
  EXPECT_TRUE(stores_.objects->List("faces/barack/")->empty());
  EXPECT_EQ(stores_.objects->List("faces/obama/")->size(), 1u);
  EXPECT_EQ(stores_.faces->GetPerson("obama")->external_id, "U0BARACK");  // the survivor had none
  auto audit = stores_.audit->List(1, "");
  ASSERT_OK(audit);
  EXPECT_EQ(audit->items.at(0).action, "person.merge");
  EXPECT_EQ(audit->items.at(0).detail["from"], "barack");
  EXPECT_EQ(audit->items.at(0).detail["sightings"], 1);
  Reply recognised = Post("/api/v1/recognize", viewer_,
                          testing::ReadFile(testing::DataPath(kObama2)), "image/jpeg");
  ASSERT_EQ(recognised.status, 200);
  EXPECT_EQ(recognised.doc()["faces"][0]["person"]["id"], "obama");
}

TEST_F(HttpDataTest, ForgetLeavesNothingOfThePersonInTheDatabaseOrObjectStore) {
  ASSERT_OK(stores_.faces->AddPerson({"obama", "Obama", "", 0}));
  ASSERT_EQ(PostPhotos("/api/v1/people/obama/faces", admin_, {testing::DataPath(kObama)}).status,
            200);
  Seen("f-1", kT0, kObama2, "obama");
  Seen("f-2", kT0 + 1000, kObama2, "obama", "back");
  // A stranger later tagged as him.
  const FaceObservation face = Face(kObama2);
  SightingRecord stranger = Seen("f-3", kT0 + 2000, kObama2, std::nullopt, "door", face);
  auto cluster = stores_.clusters->Assign(stranger);
  ASSERT_OK(cluster);
  ASSERT_EQ(Post("/api/v1/unknowns/" + std::to_string(cluster->cluster.id) + "/tag", admin_,
                 json{{"person_id", "obama"}}.dump())
                .status,
            200);
  Seen("keep-1", kT0 + 3000, kBiden, std::nullopt);  // someone else stays
  ASSERT_GT(Rows("faces", "person_id", "obama"), 0);

  EXPECT_EQ(Post("/api/v1/people/nobody/forget", admin_).status, 404);
  Reply forgot = Post("/api/v1/people/obama/forget", admin_);
  ASSERT_EQ(forgot.status, 200) << forgot.body;
  EXPECT_GE(forgot.doc()["faces"].get<int>(), 1);
  EXPECT_EQ(forgot.doc()["sightings"], 3);
  EXPECT_GE(forgot.doc()["images"].get<int>(), 4);

  EXPECT_EQ(Rows("persons", "id", "obama"), 0);
  EXPECT_EQ(Rows("faces", "person_id", "obama"), 0);
  EXPECT_EQ(Rows("face_negatives", "person_id", "obama"), 0);
  EXPECT_EQ(Rows("sightings", "person_id", "obama"), 0);
  EXPECT_EQ(Rows("visits", "person_id", "obama"), 0);
  EXPECT_EQ(Rows("stranger_clusters", "person_id", "obama"), 0);
  for (const std::string id : {"f-1", "f-2", "f-3"}) {
    EXPECT_EQ(Rows("sightings", "id", id), 0) << id;
    EXPECT_EQ(Rows("cluster_sightings", "sighting_id", id), 0) << id;
  }
  auto keys = stores_.objects->List("");
  ASSERT_OK(keys);
  EXPECT_EQ(*keys, (std::vector<std::string>{"unknown/keep-1.jpg"}));
  EXPECT_EQ(Get("/api/v1/people/obama", viewer_).status, 404);
  EXPECT_TRUE(Get("/api/v1/sightings?person=obama", viewer_).doc()["items"].empty());
  EXPECT_EQ(Get("/api/v1/sightings", viewer_).doc()["items"].size(), 1u);
}

TEST_F(HttpDataTest, EmbeddingsOnlyModeAnswersWithoutPictures) {
  config_.retention.embeddings_only = true;
  // As recognition leaves a sighting in that mode: decided, its picture deleted.
  const SightingRecord s = Seen("e-1", kT0, kBlair, std::nullopt, "door", Face(kBlair));
  ASSERT_OK(stores_.objects->Delete(s.image_key));
  ASSERT_TRUE(stores_.sightings->ClearImageKey(s.id, s.image_key).value());
  auto cluster = stores_.clusters->Assign(*stores_.sightings->Get(s.id));
  ASSERT_OK(cluster);

  const json one = Get("/api/v1/sightings/e-1", viewer_).doc();
  EXPECT_TRUE(one["image_url"].is_null()) << one.dump();
  EXPECT_TRUE(one["image_key"].is_null()) << one.dump();
  const json visits = Get("/api/v1/visits", viewer_).doc();
  ASSERT_EQ(visits["items"].size(), 1u);
  EXPECT_TRUE(visits["items"][0]["image_url"].is_null());
  const json cards = Get("/api/v1/unknowns", viewer_).doc();
  ASSERT_EQ(cards["items"].size(), 1u) << cards.dump();
  EXPECT_EQ(cards["items"][0]["id"], cluster->cluster.id);
  EXPECT_TRUE(cards["items"][0]["image_url"].is_null()) << cards.dump();
  for (const std::string path : {"/api/v1/sightings/e-1/image", "/api/v1/faces/1/image"}) {
    const Reply image = Get(path, viewer_);
    EXPECT_EQ(image.status, 404) << path;
    EXPECT_NE(image.body.find("pictures are not kept: embeddings-only mode"), std::string::npos)
        << path << ": " << image.body;
  }
}

}  // namespace
}  // namespace concierge
