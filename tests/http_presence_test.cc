// Presence, digest, CSV export and a person's data export over real HTTP: the
// HttpServer on 127.0.0.1 with SQLite, a filesystem object store, an admin and
// a viewer, and decided sightings (real face crops) recorded straight into the
// store. Bad input (dates, ranges, ids, roles) is checked on every endpoint.
#include <gtest/gtest.h>
#include <httplib.h>
#include <zip.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/clock.h"
#include "core/config.h"
#include "http/auth.h"
#include "http/http_server.h"
#include "notify/notifier.h"
#include "notify/presence.h"
#include "pipeline/ingest.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/fs_object_store.h"
#include "store/sqlite_sighting_store.h"
#include "support/api_server.h"
#include "support/models.h"
#include "support/notifier_parts.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"
#include "support/sighting_records.h"

namespace concierge {
namespace {

using json = nlohmann::json;

const char* kCrop = "lfw/images/Tony_Blair/Tony_Blair_0006.jpg";

// Every entry of a ZIP file by name.
std::map<std::string, std::string> Unzip(const std::string& bytes) {
  std::map<std::string, std::string> out;
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  zip_t* zip = src ? zip_open_from_source(src, ZIP_RDONLY, &error) : nullptr;
  if (!zip) {
    if (src) zip_source_free(src);
    zip_error_fini(&error);
    return out;
  }
  for (zip_int64_t i = 0; i < zip_get_num_entries(zip, 0); ++i) {
    zip_stat_t st;
    if (zip_stat_index(zip, static_cast<zip_uint64_t>(i), 0, &st) != 0) continue;
    zip_file_t* f = zip_fopen_index(zip, static_cast<zip_uint64_t>(i), 0);
    std::string data(st.size, '\0');
    if (f && zip_fread(f, data.data(), st.size) == static_cast<zip_int64_t>(st.size))
      out[st.name] = data;
    if (f) zip_fclose(f);
  }
  zip_close(zip);
  zip_error_fini(&error);
  return out;
}

class HttpPresenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    setenv("TZ", "UTC", 1);
    tzset();
    config_.data_dir = dir_.path();
    config_.http.bind = "127.0.0.1";
    config_.http.port = 0;
    config_.http.threads = 4;
    config_.notify.office_hours = "07:00-19:00";
    config_.aws.enabled = false;  // no face engine here
    ASSERT_OK(stores_.Open(config_, 0.5f, 3'600'000));
    accounts_ = NewSqliteAccountStore(stores_.db.get());
    auth_ = std::make_unique<Authenticator>(accounts_.get(), config_.auth);
    const testing::ApiAccounts accounts = testing::AddApiAccounts(*auth_, "test");
    ASSERT_FALSE(HasFailure());
    admin_ = accounts.admin_token;
    viewer_ = accounts.viewer_token;
    crop_ = testing::FaceCrop(kCrop);

    ApiContext ctx;
    ctx.config = &config_;
    ctx.sightings = stores_.sightings.get();
    ctx.objects = stores_.objects.get();
    ctx.faces = stores_.faces.get();
    ctx.auth = auth_.get();
    ctx.audit = stores_.audit.get();
    auto server = HttpServer::Start(ctx);
    ASSERT_OK(server);
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  httplib::Result Get(const std::string& path, const std::string& token) const {
    httplib::Client c("127.0.0.1", server_->port());
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return c.Get(path.c_str(), h);
  }
  static std::string Code(const httplib::Result& r) {
    const json d = json::parse(r->body, nullptr, false);
    return d.is_object() && d.contains("error") ? d["error"].value("code", "") : "";
  }

  // A decided sighting with its picture; person "" is a stranger. `visit` 0 starts a visit.
  SightingRecord See(const std::string& person, int64_t at_ms, const std::string& camera,
                     int64_t visit = 0) {
    Embedding embedding(512, 0.f);
    embedding[0] = 1.f;
    const auto d = testing::RecordDecided(
        *stores_.sightings, *stores_.objects,
        {.id = "s" + std::to_string(++next_id_), .person = person, .captured_ms = at_ms,
         .camera = camera, .embedding = embedding, .visit = visit, .picture = crop_});
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? d->sighting : SightingRecord{};
  }

  static constexpr int64_t kHour = 3600000;
  // 2026-11-24 00:00 UTC (TZ=UTC in this test).
  static constexpr int64_t kDay = 1'795'478'400'000;

  testing::TempDir dir_;
  Config config_;
  testing::NotifierStores stores_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<HttpServer> server_;
  std::string admin_, viewer_, crop_;
  int next_id_ = 0;
};

TEST_F(HttpPresenceTest, LocalDayBoundsAcceptOnlyRealDates) {
  auto day = LocalDayBounds("2026-11-24");
  ASSERT_OK(day);
  EXPECT_EQ(day->first, kDay);
  EXPECT_EQ(day->second, kDay + 24 * kHour);
  for (const char* bad : {"2026-02-30", "2026-13-01", "2026-1-01", "26-11-24", "2026-11-24x",
                          "yesterday", "", "1969-12-31", "2026/11/24", "+026-11-24"})
    EXPECT_FALSE(LocalDayBounds(bad).ok()) << bad;
}

TEST_F(HttpPresenceTest, PresenceNamesWhoWasInStrangersAndAfterHours) {
  ASSERT_OK(stores_.faces->AddPerson({"ana", "Ana", "", 0}));
  ASSERT_OK(stores_.faces->AddPerson({"bo", "Bo", "", 0}));
  const SightingRecord ana = See("ana", kDay + 9 * kHour, "door");
  See("ana", kDay + 17 * kHour, "lobby", *ana.visit_id);
  See("bo", kDay + 21 * kHour, "door");  // after hours
  const SightingRecord stranger = See("", kDay + 11 * kHour, "lobby");
  See("ana", kDay - 2 * kHour, "door");  // the day before

  auto r = Get("/api/v1/presence?date=2026-11-24", viewer_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["date"], "2026-11-24");
  ASSERT_EQ(body["people"].size(), 2u) << body.dump(2);
  const json& first = body["people"][0];
  EXPECT_EQ(first["person"], (json{{"id", "ana"}, {"name", "Ana"}}));
  EXPECT_EQ(first["first_seen"], FormatIsoUtc(kDay + 9 * kHour));
  EXPECT_EQ(first["last_seen"], FormatIsoUtc(kDay + 17 * kHour));
  EXPECT_EQ(first["cameras"], json::array({"door", "lobby"}));
  EXPECT_EQ(body["people"][1]["person"]["id"], "bo");
  ASSERT_EQ(body["strangers"].size(), 1u);
  // Strangers are visits, in the shape GET /api/v1/visits answers.
  EXPECT_EQ(body["strangers"][0]["id"], *stranger.visit_id);
  EXPECT_TRUE(body["strangers"][0]["person"].is_null());
  EXPECT_EQ(body["strangers"][0]["camera"], "lobby");
  ASSERT_EQ(body["after_hours"].size(), 1u);
  EXPECT_EQ(body["after_hours"][0]["person"]["id"], "bo");

  auto empty = Get("/api/v1/presence?date=2026-11-22", viewer_);
  ASSERT_EQ(empty->status, 200);
  EXPECT_TRUE(json::parse(empty->body)["people"].empty());
  auto today = Get("/api/v1/presence", viewer_);
  ASSERT_EQ(today->status, 200);
  EXPECT_EQ(json::parse(today->body)["date"], LocalDate(NowMs()));
}

TEST_F(HttpPresenceTest, BadDatesAndMissingCredentialsAreRefused) {
  for (const std::string path : {"/api/v1/presence?date=2026-02-30", "/api/v1/presence?date=today",
                                 "/api/v1/digest?date=24.11.2026",
                                 "/api/v1/visits.csv?from=2026-11-24&to=2026-11-99",
                                 "/api/v1/visits.csv?from=2026-11-24&to=2026-11-23",
                                 "/api/v1/visits.csv?from=2024-01-01&to=2026-01-01",
                                 "/api/v1/visits.csv?from=2026-11-24&to=2026-11-24&person=a%20b"}) {
    SCOPED_TRACE(path);
    auto r = Get(path, viewer_);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(Code(r), "bad_request");
  }
  auto anon = Get("/api/v1/presence", "");
  EXPECT_EQ(anon->status, 401);
  EXPECT_EQ(Get("/api/v1/visits.csv?from=2026-11-24&to=2026-11-24", "").value().status, 401);
}

TEST_F(HttpPresenceTest, DigestJsonMatchesTheSlackText) {
  ASSERT_OK(stores_.faces->AddPerson({"ana", "Ana", "", 0}));
  See("ana", kDay + 9 * kHour, "door");
  See("", kDay + 22 * kHour, "door");
  auto r = Get("/api/v1/digest?date=2026-11-24", viewer_);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  ASSERT_EQ(body["arrivals"].size(), 1u);
  EXPECT_EQ(body["arrivals"][0]["person"]["name"], "Ana");
  EXPECT_EQ(body["strangers"].size(), 1u);
  EXPECT_EQ(body["after_hours"].size(), 1u);
  const std::string text = body["text"];
  EXPECT_NE(text.find("Ana at 09:00"), std::string::npos) << text;
  EXPECT_NE(text.find("Strangers still untagged: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("After-hours events: 1"), std::string::npos) << text;
}

TEST_F(HttpPresenceTest, CsvExportQuotesFieldsAndDisarmsFormulas) {
  ASSERT_OK(stores_.faces->AddPerson({"ana", "Ana \"The Boss\", Jr.", "", 0}));
  ASSERT_OK(stores_.faces->AddPerson({"eve", "=HYPERLINK(\"x\")", "", 0}));
  See("ana", kDay + 9 * kHour, "door");
  See("eve", kDay + 10 * kHour, "door");
  See("ana", kDay + 30 * kHour, "door");  // next day: outside a one-day range
  auto r = Get("/api/v1/visits.csv?from=2026-11-24&to=2026-11-24", viewer_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_NE(r->get_header_value("Content-Disposition").find("visits-2026-11-24-to-2026-11-24.csv"),
            std::string::npos);
  const std::string& csv = r->body;
  EXPECT_EQ(csv.rfind("visit_id,person_id,person_name,started,last,sightings,camera\r\n", 0), 0u);
  EXPECT_NE(csv.find(",ana,\"Ana \"\"The Boss\"\", Jr.\"," + FormatIsoUtc(kDay + 9 * kHour)),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",eve,\"'=HYPERLINK(\"\"x\"\")\","), std::string::npos) << csv;
  size_t rows = 0;
  for (size_t at = csv.find("\r\n"); at != std::string::npos; at = csv.find("\r\n", at + 2)) ++rows;
  EXPECT_EQ(rows, 3u) << csv;  // header + two visits
  auto only_ana = Get("/api/v1/visits.csv?from=2026-11-24&to=2026-11-25&person=ana", viewer_);
  ASSERT_EQ(only_ana->status, 200);
  EXPECT_EQ(only_ana->body.find(",eve,"), std::string::npos);
  EXPECT_NE(only_ana->body.find(FormatIsoUtc(kDay + 30 * kHour)), std::string::npos);
}

TEST_F(HttpPresenceTest, ExportIsAZipOfTheirDataForAdminsOnlyAndAudited) {
  ASSERT_OK(stores_.faces->AddPerson({"ana", "Ana", "", 0}));
  ASSERT_OK(stores_.faces->AddPerson({"bo", "Bo", "", 0}));
  const SightingRecord s = See("ana", kDay + 9 * kHour, "door");
  See("bo", kDay + 10 * kHour, "door");
  ASSERT_OK(stores_.audit->Record("user:ada", "person.rename", "person:ana"));
  ASSERT_OK(stores_.audit->Record("user:ada", "person.rename", "person:bo"));

  auto viewer = Get("/api/v1/people/ana/export", viewer_);
  EXPECT_EQ(viewer->status, 403);
  EXPECT_EQ(Get("/api/v1/people/ana/export", "").value().status, 401);
  EXPECT_EQ(Get("/api/v1/people/nobody/export", admin_).value().status, 404);
  EXPECT_EQ(Get("/api/v1/people/a%20b/export", admin_).value().status, 400);

  auto r = Get("/api/v1/people/ana/export", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/zip");
  const auto files = Unzip(r->body);
  ASSERT_EQ(files.count("person.json"), 1u) << r->body.size();
  EXPECT_EQ(json::parse(files.at("person.json"))["name"], "Ana");
  const json sightings = json::parse(files.at("sightings.json"));
  ASSERT_EQ(sightings.size(), 1u);
  EXPECT_EQ(sightings[0]["id"], s.id);
  EXPECT_EQ(files.at("sightings/" + s.id + ".jpg"), crop_);
  EXPECT_EQ(json::parse(files.at("visits.json")).size(), 1u);
  EXPECT_EQ(json::parse(files.at("faces.json")).size(), 0u);
  const json audit = json::parse(files.at("audit.json"));
  ASSERT_EQ(audit.size(), 1u);  // ana's entry, not bo's
  EXPECT_EQ(audit[0]["action"], "person.rename");

  auto page = stores_.audit->List(10);
  ASSERT_OK(page);
  ASSERT_FALSE(page->items.empty());
  EXPECT_EQ(page->items[0].action, "person.export");
  EXPECT_EQ(page->items[0].target, "person:ana");
  EXPECT_EQ(page->items[0].actor.rfind("token:", 0), 0u);  // the admin's API token
}

}  // namespace
}  // namespace concierge
