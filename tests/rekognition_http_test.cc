// The Rekognition-compatible endpoint over real HTTP, without boto3: the
// HttpServer on 127.0.0.1 (a free port), requests signed here with SignV4.
// Covers what the boto3 test (tests/python) cannot reach from an SDK: bodies
// over http.max_body_bytes, S3Object images from a real S3-compatible server
// (s3rver), and concurrent IndexFaces with one ExternalImageId.
#include <gtest/gtest.h>
#include <httplib.h>

#include <sodium.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/hash.h"
#include "pipeline/matcher.h"
#include "http/http_server.h"
#include "http/sigv4.h"
#include "store/access_keys.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/fs_object_store.h"
#include "store/open_face_repository.h"
#include "store/pg_face_repository.h"
#include "store/rekognition_store.h"
#include "store/s3_object_store.h"
#include "support/face_images.h"
#include "support/pg_fixture.h"
#include "support/s3_fixture.h"
#include "support/shared_face_engine.h"
#include "support/test_env.h"
#include "vision/face_engine.h"

namespace concierge {
namespace {

using json = nlohmann::json;

constexpr char kObama[] = "enroll/face_recognition/examples/obama.jpg";
constexpr char kObama2[] = "enroll/face_recognition/examples/obama2.jpg";

std::string Base64(const std::string& bytes) {
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(out.find('\0'));
  return out;
}

struct Reply {
  int status = -1;
  json body;
  std::string request_id;
  std::string type() const { return body.is_object() ? body.value("__type", "") : ""; }
};

class RekognitionHttpTest : public testing::SharedFaceEngineTest {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    ASSERT_NE(engine_, nullptr) << "the vision engine did not load: " << engine_status_.ToString();
    config_.data_dir = dir_.path();
    config_.vision.models_dir = DefaultModelsDir();
    config_.http.bind = "127.0.0.1";
    config_.http.port = 0;
    config_.http.threads = 8;
    config_.http.max_body_bytes = 2 * 1024 * 1024;
    config_.aws.key_encryption_secret = "rekognition-http-test-0123456789abcdef";
    config_.aws.office_collection_id = "office";
    auto db = Database::OpenSqlite(config_.DatabasePath(), 5000);
    ASSERT_OK(db);
    db_ = std::move(*db);
    accounts_ = NewSqliteAccountStore(db_.get());
    audit_ = NewSqliteAuditLog(db_.get());
    auto faces = FaceCollection::Open(db_.get(), "default", SpacesOf(engine_->embedders()));
    ASSERT_OK(faces);
    faces_ = std::move(*faces);
    auto keys = AccessKeyStore::Open(accounts_.get(), config_.aws.key_encryption_secret);
    ASSERT_OK(keys);
    auto key = (*keys)->Create("http-test");
    ASSERT_OK(key);
    key_id_ = key->key.id;
    secret_ = key->secret_access_key;
  }

  // Serves with the API's bookkeeping and new collections on config_.database.
  void StartServer(ObjectStore* objects) {
    auto rekognition = OpenRekognitionStore(config_.database, db_.get());
    ASSERT_OK(rekognition);
    rekognition_ = std::move(*rekognition);
    ApiContext ctx;
    ctx.config = &config_;
    ctx.audit = audit_.get();
    ctx.accounts = accounts_.get();
    ctx.rekognition = rekognition_.get();
    ctx.open_face_repository = [this](const std::string& collection) {
      return OpenFaceRepository(config_.database, db_.get(), collection);
    };
    ctx.faces = faces_.get();
    ctx.engine = engine_;
    ctx.objects = objects;
    auto server = HttpServer::Start(ctx);
    ASSERT_OK(server);
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  // POSTs `body` to / as operation `target`, signed with `secret` (empty: unsigned).
  Reply Call(const std::string& target, const std::string& body, std::string secret = "-") const {
    if (secret == "-") secret = secret_;
    const std::string host = "127.0.0.1:" + std::to_string(server_->port());
    httplib::Headers headers = {{"X-Amz-Target", "RekognitionService." + target}};
    if (!secret.empty()) {
      SigV4Request r;
      r.method = "POST";
      r.path = "/";
      r.amz_date = FormatAmzDate(NowMs());
      r.headers = {{"host", host},
                   {"content-type", "application/x-amz-json-1.1"},
                   {"x-amz-date", r.amz_date},
                   {"x-amz-target", "RekognitionService." + target}};
      r.payload_sha256 = Sha256Hex(body);
      r.region = "us-west-2";
      r.service = "rekognition";
      r.access_key = key_id_;
      r.secret_key = secret;
      headers.emplace("X-Amz-Date", r.amz_date);
      headers.emplace("Authorization", SignV4(r).authorization);
    }
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(120, 0);
    auto res = client.Post("/", headers, body, "application/x-amz-json-1.1");
    Reply reply;
    if (!res) return reply;
    reply.status = res->status;
    reply.body = json::parse(res->body, nullptr, false);
    reply.request_id = res->get_header_value("x-amzn-RequestId");
    return reply;
  }

  testing::TempDir dir_;
  Config config_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<RekognitionStore> rekognition_;
  std::unique_ptr<HttpServer> server_;
  std::string key_id_, secret_;
};

TEST_F(RekognitionHttpTest, RefusalsAreAwsShapedEvenFromTheServerItself) {
  auto objects = FsObjectStore::Open(config_.ObjectRoot());
  ASSERT_OK(objects);
  StartServer(objects->get());

  const Reply listed = Call("ListCollections", "{}");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.body["CollectionIds"], json({"office"}));
  EXPECT_EQ(listed.request_id.size(), 36u);

  EXPECT_EQ(Call("ListCollections", "{}", "").type(), "MissingAuthenticationTokenException");
  EXPECT_EQ(Call("ListCollections", "{}", "not the secret").type(), "InvalidSignatureException");
  EXPECT_EQ(Call("DetectLabels", "{}").type(), "UnknownOperationException");
  EXPECT_EQ(Call("ListCollections", std::string(64, '[')).type(), "SerializationException");
  const Reply invalid = Call("DescribeCollection", R"({"CollectionId": 7})");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.type(), "ValidationException");
  EXPECT_EQ(invalid.body["Message"], invalid.body["Message"].get<std::string>());

  // Over http.max_body_bytes the server refuses unread, still AWS-shaped.
  const Reply huge = Call("DetectFaces", "{\"Image\": {\"Bytes\": \"" +
                                             std::string(3 * 1024 * 1024, 'A') + "\"}}");
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_EQ(huge.type(), "ImageTooLargeException");

  // An image bomb and a path trick change nothing.
  const Reply bomb = Call("IndexFaces", json{{"CollectionId", "office"},
                                             {"Image", {{"Bytes", Base64(testing::PngBombHeader(
                                                                     40000, 40000))}}}}
                                            .dump());
  EXPECT_EQ(bomb.type(), "ImageTooLargeException") << bomb.body;
  const json s3_trick = {{"Bucket", "concierge"}, {"Name", "../../etc/passwd"}};
  const Reply trick =
      Call("IndexFaces",
           json{{"CollectionId", "office"}, {"Image", {{"S3Object", s3_trick}}}}.dump());
  EXPECT_EQ(trick.type(), "InvalidS3ObjectException") << trick.body;
  EXPECT_EQ(faces_->size(), 0u);

  // Revoked at once, while the server runs.
  auto keys = AccessKeyStore::Open(accounts_.get(), config_.aws.key_encryption_secret);
  ASSERT_OK(keys);
  ASSERT_OK((*keys)->Revoke(key_id_));
  EXPECT_EQ(Call("ListCollections", "{}").type(), "UnrecognizedClientException");
}

TEST_F(RekognitionHttpTest, WithoutAnEncryptionSecretEveryRequestIsRefused) {
  config_.aws.key_encryption_secret.clear();
  StartServer(nullptr);
  EXPECT_EQ(Call("ListCollections", "{}").type(), "UnrecognizedClientException");
}

TEST_F(RekognitionHttpTest, ConcurrentIndexFacesForOneExternalImageIdMakeOnePerson) {
  auto objects = FsObjectStore::Open(config_.ObjectRoot());
  ASSERT_OK(objects);
  StartServer(objects->get());
  const std::vector<std::string> photos = {
      "Tony_Blair_0006.jpg", "Tony_Blair_0018.jpg", "Tony_Blair_0032.jpg", "Tony_Blair_0048.jpg",
      "Tony_Blair_0053.jpg", "Tony_Blair_0064.jpg", "Tony_Blair_0086.jpg", "Tony_Blair_0091.jpg"};
  std::atomic<int> indexed{0};
  std::vector<std::thread> threads;
  for (const auto& photo : photos) {
    threads.emplace_back([&, photo] {
      const std::string bytes = testing::ReadFile(testing::DataPath("lfw/images/Tony_Blair/" +
                                                                    photo));
      const Reply r = Call("IndexFaces", json{{"CollectionId", "office"},
                                              {"ExternalImageId", "U0BLAIR"},
                                              {"Image", {{"Bytes", Base64(bytes)}}}}
                                             .dump());
      if (r.status == 200 && r.body["FaceRecords"].size() == 1) ++indexed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(indexed.load(), 8);
  EXPECT_EQ(faces_->person_count(), 1u);
  auto blair = faces_->FindByExternalId("U0BLAIR");
  ASSERT_OK(blair);
  auto stored = faces_->ListFaces(blair->id);
  ASSERT_OK(stored);
  EXPECT_EQ(stored->size(), 8u);
  // The office's faces keep their pictures, like faces enrolled in the UI.
  for (const auto& face : *stored)
    EXPECT_TRUE(*(*objects)->Exists(face.image_key)) << face.image_key;
}

TEST_F(RekognitionHttpTest, S3ObjectsComeFromTheConfiguredS3Store) {
  REQUIRE_S3RVER();
  testing::S3rverServer s3;
  ASSERT_OK(s3.Start());
  config_.objects = s3.MakeConfig("doorman-bucket");
  auto objects = S3ObjectStore::Open(config_.objects);
  ASSERT_OK(objects);
  ASSERT_OK((*objects)->Put("unknown/2026-05-23/a.jpg", testing::ReadFile(testing::DataPath(
                                                              kObama))));
  StartServer(objects->get());
  auto index = [&](const std::string& bucket, const std::string& name) {
    return Call("IndexFaces", json{{"CollectionId", "office"},
                                   {"ExternalImageId", "U0OBAMA"},
                                   {"Image", {{"S3Object", {{"Bucket", bucket}, {"Name", name}}}}}}
                                  .dump());
  };
  EXPECT_EQ(index("doorman-bucket", "unknown/2026-05-23/missing.jpg").type(),
            "InvalidS3ObjectException");
  EXPECT_EQ(index("another-bucket", "unknown/2026-05-23/a.jpg").type(),
            "InvalidS3ObjectException");
  EXPECT_EQ(faces_->size(), 0u);
  const Reply ok = index("doorman-bucket", "unknown/2026-05-23/a.jpg");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body["FaceRecords"].size(), 1u);
  EXPECT_EQ(faces_->size(), 1u);
}

TEST_F(RekognitionHttpTest, NewCollectionsAndTheirRecordsLiveOnPostgresWhenTheFacesDo) {
  REQUIRE_POSTGRES();
  testing::PgCluster pg;
  ASSERT_OK(pg.Start());
  ASSERT_OK(pg.CreateDatabase("concierge"));
  config_.database.kind = "postgres";
  config_.database.postgres_url = pg.Url("concierge");
  auto office = OpenPgFaceRepository(config_.database.postgres_url, "default");
  ASSERT_OK(office);
  auto faces = FaceCollection::Open(std::move(*office), SpacesOf(engine_->embedders()));
  ASSERT_OK(faces);
  faces_ = std::move(*faces);
  auto objects = FsObjectStore::Open(config_.ObjectRoot());
  ASSERT_OK(objects);
  StartServer(objects->get());

  ASSERT_EQ(Call("CreateCollection", R"({"CollectionId": "visitors"})").status, 200);
  auto photo = [](const char* path) {
    return json{{"Bytes", Base64(testing::ReadFile(testing::DataPath(path)))}};
  };
  const Reply indexed = Call("IndexFaces", json{{"CollectionId", "visitors"},
                                                {"ExternalImageId", "obama"},
                                                {"Image", photo(kObama)}}
                                               .dump());
  ASSERT_EQ(indexed.status, 200) << indexed.body;
  const Reply found = Call("SearchFacesByImage", json{{"CollectionId", "visitors"},
                                                      {"FaceMatchThreshold", 70},
                                                      {"Image", photo(kObama2)}}
                                                     .dump());
  ASSERT_EQ(found.status, 200) << found.body;
  ASSERT_EQ(found.body["FaceMatches"].size(), 1u);
  EXPECT_EQ(found.body["FaceMatches"][0]["Face"]["ExternalImageId"], "obama");
  // The face is in PostgreSQL, where every serve process sees it.
  auto repository = OpenPgFaceRepository(config_.database.postgres_url, "visitors");
  ASSERT_OK(repository);
  auto stored = FaceCollection::Open(std::move(*repository), SpacesOf(engine_->embedders()));
  ASSERT_OK(stored);
  EXPECT_EQ((*stored)->size(), 1u);
  EXPECT_EQ(faces_->size(), 0u) << "the office collection is another one";
  // So is the API's record of it and of the FaceId it handed out.
  auto records = OpenPgRekognitionStore(config_.database.postgres_url);
  ASSERT_OK(records);
  auto visitors = (*records)->GetCollection("visitors");
  ASSERT_OK(visitors);
  EXPECT_TRUE(visitors->has_value());
  auto indexed_faces = (*records)->FacesOf("visitors");
  ASSERT_OK(indexed_faces);
  ASSERT_EQ(indexed_faces->size(), 1u);
  EXPECT_EQ(indexed_faces->front().face_uuid,
            indexed.body["FaceRecords"][0]["Face"]["FaceId"].get<std::string>());
  EXPECT_EQ(indexed_faces->front().external_image_id, "obama");
}

}  // namespace
}  // namespace concierge
