// The stores behind the Rekognition-compatible API: access keys on a real
// SQLite file (secrets encrypted at rest, unreadable from the database alone,
// useless under another encryption secret, revocable), and the API's own
// records (collections, FaceIds, ClientRequestToken answers) over SQLite and
// PostgreSQL, shared by several servers.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <latch>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/access_keys.h"
#include "store/database.h"
#include "store/rekognition_store.h"
#include "support/store_backend.h"
#include "support/test_env.h"

namespace concierge {
namespace {

constexpr char kSecret[] = "an encryption secret of at least 32 bytes";

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class RekognitionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 5000);
    ASSERT_OK(db);
    db_ = std::move(*db);
    accounts_ = NewSqliteAccountStore(db_.get());
  }
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<AccountStore> accounts_;
};

TEST_F(RekognitionStoreTest, AccessKeysNeedALongEnoughEncryptionSecret) {
  for (const std::string& secret : {std::string(), std::string(31, 'x')}) {
    auto keys = AccessKeyStore::Open(accounts_.get(), secret);
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_NE(keys.status().message().find("aws.key_encryption_secret"), std::string::npos);
  }
  EXPECT_TRUE(AccessKeyStore::Open(accounts_.get(), std::string(32, 'x')).ok());
}

TEST_F(RekognitionStoreTest, SecretsAreEncryptedAtRestAndShownOnlyOnCreation) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto created = (*keys)->Create("doorman lambda");
  ASSERT_OK(created);
  EXPECT_EQ(created->key.id.size(), 20u);
  EXPECT_EQ(created->key.id.rfind("AKCC", 0), 0u);
  EXPECT_EQ(created->secret_access_key.size(), 40u);
  auto second = (*keys)->Create("another");
  ASSERT_OK(second);
  EXPECT_NE(second->key.id, created->key.id);
  EXPECT_NE(second->secret_access_key, created->secret_access_key);

  auto secret = (*keys)->SecretFor(created->key.id);
  ASSERT_OK(secret);
  EXPECT_EQ(*secret, created->secret_access_key);

  auto listed = (*keys)->List();
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].name, "doorman lambda");
  EXPECT_GT((*listed)[1].last_used_ms, 0) << "the lookup above counts as a use";

  // Neither the database file nor its write-ahead log holds the secret.
  db_.reset();
  for (const char* file : {"concierge.db", "concierge.db-wal"})
    EXPECT_EQ(FileBytes(dir_.Sub(file)).find(created->secret_access_key), std::string::npos)
        << file;
}

TEST_F(RekognitionStoreTest, AnotherEncryptionSecretCannotReadTheKeys) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto created = (*keys)->Create("k");
  ASSERT_OK(created);
  auto other = AccessKeyStore::Open(accounts_.get(), std::string(kSecret) + "!");
  ASSERT_OK(other);
  auto secret = (*other)->SecretFor(created->key.id);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(secret.status().message().find(created->secret_access_key), std::string::npos);
}

TEST_F(RekognitionStoreTest, ACiphertextMovedToAnotherKeyDoesNotDecrypt) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto a = (*keys)->Create("a");
  auto b = (*keys)->Create("b");
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("UPDATE aws_access_keys SET secret_box = (SELECT secret_box FROM "
                               "aws_access_keys WHERE id = ?) WHERE id = ?"));
    return st.BindText(a->key.id).BindText(b->key.id).Run();
  }));
  EXPECT_EQ((*keys)->SecretFor(b->key.id).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE((*keys)->SecretFor(a->key.id).ok());
}

TEST_F(RekognitionStoreTest, RevokedAndUnknownKeysHaveNoSecret) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto created = (*keys)->Create("k");
  ASSERT_OK(created);
  ASSERT_OK((*keys)->Revoke(created->key.id));
  EXPECT_EQ((*keys)->SecretFor(created->key.id).status().code(), Status::Code::kNotFound);
  EXPECT_EQ((*keys)->Revoke(created->key.id).code(), Status::Code::kNotFound);
  EXPECT_EQ((*keys)->SecretFor("AKCCNOSUCHKEY0000000").status().code(), Status::Code::kNotFound);
  auto listed = (*keys)->List();
  ASSERT_OK(listed);
  EXPECT_GT(listed->front().revoked_ms, 0);
  for (const std::string& bad : {std::string(), std::string(65, 'n'), std::string("tab\there")})
    EXPECT_EQ((*keys)->Create(bad).status().code(), Status::Code::kInvalidArgument) << bad;
}

// The API's own records over each backend. Each "server" opens the store anew
// on the same database (with PostgreSQL over its own connection), as several
// `serve` processes do.
class RekognitionRecordsTest : public testing::StoreBackendTest {};
CONCIERGE_ALL_STORE_BACKENDS(RekognitionRecordsTest);

TEST_P(RekognitionRecordsTest, CollectionsFacesAndKeptAnswers) {
  std::unique_ptr<RekognitionStore> opened = OpenRekognition();
  ASSERT_NE(opened, nullptr);
  RekognitionStore& store = *opened;
  ASSERT_OK(store.AddCollection("b", 2));
  ASSERT_OK(store.AddCollection("a", 1));
  EXPECT_EQ(store.AddCollection("a", 3).code(), Status::Code::kAlreadyExists);
  ASSERT_OK(store.EnsureCollection("a", 9));
  auto a = store.GetCollection("a");
  ASSERT_OK(a);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->created_ms, 1);
  auto page = store.ListCollections("", 1);
  ASSERT_OK(page);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front().id, "a");
  EXPECT_EQ(store.ListCollections("a", 5)->front().id, "b");

  IndexedFace face{"uuid-1", "a", 7, "image-1", "U1", 0.1f, 0.2f, 0.3f, 0.4f, 99.5f, 5};
  ASSERT_OK(store.PutFace(face));
  face.face_id = 8;  // the face moved to another row, keeping its FaceId
  ASSERT_OK(store.PutFace(face));
  EXPECT_FALSE(store.FaceByRow("a", 7)->has_value());
  auto moved = store.FaceByRow("a", 8);
  ASSERT_OK(moved);
  ASSERT_TRUE(moved->has_value());
  EXPECT_EQ((*moved)->face_uuid, "uuid-1");
  EXPECT_EQ((*moved)->image_id, "image-1");
  EXPECT_EQ((*moved)->external_image_id, "U1");
  EXPECT_EQ((*moved)->left, 0.1f);
  EXPECT_EQ((*moved)->top, 0.2f);
  EXPECT_EQ((*moved)->width, 0.3f);
  EXPECT_EQ((*moved)->height, 0.4f);
  EXPECT_EQ((*moved)->confidence, 99.5f);
  EXPECT_EQ((*moved)->created_ms, 5);
  EXPECT_EQ((*store.FaceByUuid("a", "uuid-1"))->face_id, 8);
  EXPECT_FALSE(store.FaceByUuid("b", "uuid-1")->has_value());
  EXPECT_EQ(store.FacesOfImage("a", "image-1")->size(), 1u);
  EXPECT_EQ(store.FacesOf("a")->size(), 1u);
  ASSERT_OK(store.RemoveCollection("a"));
  EXPECT_FALSE(store.GetCollection("a")->has_value());
  EXPECT_TRUE(store.FacesOf("a")->empty());

  ASSERT_OK(store.KeepResponse("CreateUser", "t1", {"sha", "{}"}, 1'000'000'000'000));
  auto kept = store.FindResponse("CreateUser", "t1");
  ASSERT_OK(kept);
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->request_sha, "sha");
  EXPECT_FALSE(store.FindResponse("DeleteUser", "t1")->has_value());
  // Answers are kept for a day.
  ASSERT_OK(store.KeepResponse("CreateUser", "t2", {"sha", "{}"}, 1'000'000'000'000 + 86'400'001));
  EXPECT_FALSE(store.FindResponse("CreateUser", "t1")->has_value());
}

TEST_P(RekognitionRecordsTest, FacesAreListedByRowAndImageFacesOldestFirst) {
  std::unique_ptr<RekognitionStore> store = OpenRekognition();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->PutFace({"uuid-c", "a", 30, "image-1", "", 0, 0, 1, 1, 90, 20}));
  ASSERT_OK(store->PutFace({"uuid-b", "a", 10, "image-1", "", 0, 0, 1, 1, 90, 10}));
  ASSERT_OK(store->PutFace({"uuid-a", "a", 20, "image-1", "", 0, 0, 1, 1, 90, 20}));
  ASSERT_OK(store->PutFace({"uuid-d", "other", 40, "image-1", "", 0, 0, 1, 1, 90, 1}));
  auto rows = store->FacesOf("a");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].face_id, 10);
  EXPECT_EQ((*rows)[1].face_id, 20);
  EXPECT_EQ((*rows)[2].face_id, 30);
  auto image = store->FacesOfImage("a", "image-1");
  ASSERT_OK(image);
  ASSERT_EQ(image->size(), 3u);
  EXPECT_EQ((*image)[0].face_uuid, "uuid-b");
  EXPECT_EQ((*image)[1].face_uuid, "uuid-a");  // same time as uuid-c: by FaceId
  EXPECT_EQ((*image)[2].face_uuid, "uuid-c");

  // A row holds one face: another FaceId put on row 10 replaces uuid-b's record.
  ASSERT_OK(store->PutFace({"uuid-e", "a", 10, "image-2", "", 0, 0, 1, 1, 90, 30}));
  EXPECT_FALSE(store->FaceByUuid("a", "uuid-b")->has_value());
  EXPECT_EQ((*store->FaceByRow("a", 10))->face_uuid, "uuid-e");
  ASSERT_OK(store->RemoveFaceRow(10));
  EXPECT_FALSE(store->FaceByRow("a", 10)->has_value());
  ASSERT_OK(store->RemoveFaceRow(10));  // none is no error
  EXPECT_EQ(store->FacesOf("a")->size(), 2u);
}

TEST_P(RekognitionRecordsTest, CollectionsPageInByteOrder) {
  std::unique_ptr<RekognitionStore> store = OpenRekognition();
  ASSERT_NE(store, nullptr);
  for (const char* id : {"a_2", "a", "B", "a-1"}) ASSERT_OK(store->AddCollection(id, 1));
  std::vector<std::string> ids;
  std::string after;
  for (;;) {
    auto page = store->ListCollections(after, 3);
    ASSERT_OK(page);
    if (page->empty()) break;
    for (const CollectionEntry& c : *page) ids.push_back(c.id);
    after = page->back().id;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"B", "a", "a-1", "a_2"}));
}

TEST_P(RekognitionRecordsTest, WhatOneServerRecordsAnotherSees) {
  std::unique_ptr<RekognitionStore> a = OpenRekognition();
  std::unique_ptr<RekognitionStore> b = OpenRekognition();
  ASSERT_TRUE(a && b);
  ASSERT_OK(a->AddCollection("visitors", 42));
  auto seen = b->GetCollection("visitors");
  ASSERT_OK(seen);
  ASSERT_TRUE(seen->has_value());
  EXPECT_EQ((*seen)->created_ms, 42);
  EXPECT_EQ(b->AddCollection("visitors", 43).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(b->ListCollections("", 10)->size(), 1u);

  ASSERT_OK(a->PutFace({"uuid-1", "visitors", 7, "image-1", "obama", 0.1f, 0.2f, 0.3f, 0.4f,
                        99.5f, 5}));
  auto face = b->FaceByUuid("visitors", "uuid-1");
  ASSERT_OK(face);
  ASSERT_TRUE(face->has_value());
  EXPECT_EQ((*face)->face_id, 7);
  EXPECT_EQ((*face)->external_image_id, "obama");

  // A retry sent to the other server gets the first server's answer.
  ASSERT_OK(a->KeepResponse("CreateUser", "token-1", {"sha-1", R"({"done":1})"}, NowMs()));
  auto kept = b->FindResponse("CreateUser", "token-1");
  ASSERT_OK(kept);
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->request_sha, "sha-1");
  EXPECT_EQ((*kept)->response, R"({"done":1})");

  ASSERT_OK(b->RemoveCollection("visitors"));
  EXPECT_FALSE(a->GetCollection("visitors")->has_value());
  EXPECT_TRUE(a->FacesOf("visitors")->empty());
}

TEST_P(RekognitionRecordsTest, ServersRecordingTheSameCollectionAndFaceAtOnceAllSucceed) {
  constexpr int kServers = 6;
  std::vector<std::unique_ptr<RekognitionStore>> servers;
  for (int i = 0; i < kServers; ++i) {
    servers.push_back(OpenRekognition());
    ASSERT_NE(servers.back(), nullptr);
  }
  std::latch start(kServers);
  std::atomic<int> created{0};
  std::vector<Status> errors(kServers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kServers; ++i) {
    threads.emplace_back([&, i] {
      RekognitionStore& store = *servers[i];
      start.arrive_and_wait();
      Status s = store.EnsureCollection("office", 1);
      const Status added = store.AddCollection("visitors", 100 + i);
      if (added.ok()) {
        ++created;
      } else if (added.code() != Status::Code::kAlreadyExists && s.ok()) {
        s = added;
      }
      // The same FaceId moved to a row of its own by each server.
      if (s.ok())
        s = store.PutFace({"uuid-1", "visitors", 10 + i, "image-1", "", 0, 0, 1, 1, 99, 5});
      errors[i] = s;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kServers; ++i)
    EXPECT_TRUE(errors[i].ok()) << "server " << i << ": " << errors[i].ToString();
  EXPECT_EQ(created.load(), 1) << "exactly one server creates the collection";
  auto collections = servers[0]->ListCollections("", 10);
  ASSERT_OK(collections);
  ASSERT_EQ(collections->size(), 2u);
  EXPECT_EQ((*collections)[0].id, "office");
  EXPECT_EQ((*collections)[1].id, "visitors");
  auto faces = servers[0]->FacesOf("visitors");
  ASSERT_OK(faces);
  ASSERT_EQ(faces->size(), 1u) << "one record per FaceId";
  EXPECT_EQ(faces->front().face_uuid, "uuid-1");
  EXPECT_GE(faces->front().face_id, 10);
  EXPECT_LT(faces->front().face_id, 10 + kServers);
}

}  // namespace
}  // namespace concierge
