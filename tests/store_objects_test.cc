// The ObjectStore contract over both backends (the filesystem and S3 against
// s3rver), one suite: put, get, exists and delete; move; list by prefix. What
// only one backend has (file modes, disk full, SigV4, continuation tokens,
// outages) stays in object_store_test.cc and s3_object_store_test.cc.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/object_store.h"
#include "support/s3_fixture.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using Keys = std::vector<std::string>;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

enum class ObjectBackend { kFs, kS3 };

class ObjectStoreSuite : public ::testing::TestWithParam<ObjectBackend> {
 protected:
  void SetUp() override {
    ObjectStoreConfig config;
    config.root = dir_.Sub("objects");
    if (GetParam() == ObjectBackend::kS3) {
      REQUIRE_S3RVER();
      const Status started = s3_.Start();
      ASSERT_TRUE(started.ok()) << started.ToString() << "\n" << s3_.Log();
      config = s3_.MakeConfig("concierge-suite");
    }
    auto store = OpenObjectStore(config, "");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  testing::TempDir dir_;
  testing::S3rverServer s3_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(ObjectStoreSuite, PutGetExistsDelete) {
  const std::string bytes("\xff\xd8\0jpeg\0", 8);
  ASSERT_TRUE(store_->Put("incoming/a.jpg", bytes).ok());
  EXPECT_EQ(*store_->Get("incoming/a.jpg"), bytes);
  EXPECT_TRUE(*store_->Exists("incoming/a.jpg"));
  EXPECT_FALSE(*store_->Exists("incoming/b.jpg"));
  EXPECT_FALSE(*store_->Exists("incoming"));  // a "directory" is not an object

  ASSERT_TRUE(store_->Put("incoming/a.jpg", "second").ok());
  EXPECT_EQ(*store_->Get("incoming/a.jpg"), "second");
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->Get("empty"), "");
  const std::string big(3 * 1024 * 1024 + 7, 'p');  // above curl's 100-continue threshold
  ASSERT_TRUE(store_->Put("big.jpg", big).ok());
  EXPECT_EQ(*store_->Get("big.jpg"), big);

  const auto missing = store_->Get("incoming/b.jpg");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_PRED2(Contains, missing.status().message(), "incoming/b.jpg");
  EXPECT_EQ(store_->Get("incoming").status().code(), Status::Code::kNotFound);

  ASSERT_TRUE(store_->Delete("incoming/a.jpg").ok());
  EXPECT_FALSE(*store_->Exists("incoming/a.jpg"));
  EXPECT_TRUE(store_->Delete("incoming/a.jpg").ok());  // idempotent
  EXPECT_TRUE(store_->Delete("never/was").ok());
}

TEST_P(ObjectStoreSuite, Move) {
  ASSERT_TRUE(store_->Put("incoming/x.jpg", "x").ok());
  ASSERT_TRUE(store_->Move("incoming/x.jpg", "known/alice/x.jpg").ok());
  EXPECT_FALSE(*store_->Exists("incoming/x.jpg"));
  EXPECT_EQ(*store_->Get("known/alice/x.jpg"), "x");

  // Replaces the destination.
  ASSERT_TRUE(store_->Put("incoming/y.jpg", "y").ok());
  ASSERT_TRUE(store_->Move("incoming/y.jpg", "known/alice/x.jpg").ok());
  EXPECT_EQ(*store_->Get("known/alice/x.jpg"), "y");

  // Onto itself: kept.
  ASSERT_TRUE(store_->Move("known/alice/x.jpg", "known/alice/x.jpg").ok());
  EXPECT_EQ(*store_->Get("known/alice/x.jpg"), "y");

  const Status none = store_->Move("incoming/none.jpg", "known/a.jpg");
  EXPECT_EQ(none.code(), Status::Code::kNotFound);
  EXPECT_PRED2(Contains, none.message(), "incoming/none.jpg");
  EXPECT_FALSE(*store_->Exists("known/a.jpg"));
  EXPECT_EQ(store_->Move("known", "elsewhere").code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->Move("known/alice/x.jpg", "../x").code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(*store_->Exists("known/alice/x.jpg"));
}

TEST_P(ObjectStoreSuite, ListByPrefix) {
  for (const std::string key : {"unknown/z.jpg", "known/bob/1.jpg", "known/alice/1.jpg",
                                "known/alicia/1.jpg", "known/alice/2.jpg", "incoming/a.jpg"})
    ASSERT_TRUE(store_->Put(key, key).ok());
  EXPECT_EQ(*store_->List(""), (Keys{"incoming/a.jpg", "known/alice/1.jpg", "known/alice/2.jpg",
                                     "known/alicia/1.jpg", "known/bob/1.jpg", "unknown/z.jpg"}));
  EXPECT_EQ(*store_->List("known/ali"),
            (Keys{"known/alice/1.jpg", "known/alice/2.jpg", "known/alicia/1.jpg"}));
  EXPECT_EQ(*store_->List("known/alice/"), (Keys{"known/alice/1.jpg", "known/alice/2.jpg"}));
  EXPECT_EQ(*store_->List("known/alice/2"), (Keys{"known/alice/2.jpg"}));
  EXPECT_EQ(*store_->List("kn"), (Keys{"known/alice/1.jpg", "known/alice/2.jpg",
                                       "known/alicia/1.jpg", "known/bob/1.jpg"}));
  EXPECT_TRUE(store_->List("nothing/")->empty());
  EXPECT_TRUE(store_->List("known/alice/1.jpg/")->empty());
  EXPECT_EQ(store_->List("../").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->List("/etc/").status().code(), Status::Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreSuite,
                         ::testing::Values(ObjectBackend::kFs, ObjectBackend::kS3),
                         [](const ::testing::TestParamInfo<ObjectBackend>& info) {
                           return info.param == ObjectBackend::kFs ? "Filesystem" : "S3";
                         });

}  // namespace
}  // namespace concierge
