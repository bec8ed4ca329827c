// The filesystem ObjectStore: key and prefix validation, private files, no
// partial or stray files under concurrency or failed writes, symlinks out of
// the root, and real disk-full and read-only filesystems. The contract it
// shares with S3 is store_objects_test.cc.
#include "store/object_store.h"

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/fs_object_store.h"
#include "support/object_keys.h"
#include "support/test_env.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;
using ::concierge::testing::TempDir;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every file under `dir`, relative, so tests can spot stray temp files.
std::vector<std::string> AllFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).generic_string());
  std::sort(out.begin(), out.end());
  return out;
}

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenAt(dir_.Sub("objects")); }

  static std::unique_ptr<ObjectStore> OpenAt(const std::string& root) {
    ObjectStoreConfig config;
    config.root = root;
    auto store = OpenObjectStore(config, "");
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

// A small tmpfs at `dir`, unmounted on destruction. Root can write anywhere,
// so real "disk full" and "read-only" conditions need a real filesystem.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const char* size) : dir_(dir), size_(size) {
    fs::create_directories(dir);
    mounted_ = mount("tmpfs", dir.c_str(), "tmpfs", 0, size) == 0;
    error_ = mounted_ ? "" : std::strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  bool MakeReadOnly() {
    return mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, size_.c_str()) == 0;
  }

 private:
  std::string dir_, size_, error_;
  bool mounted_ = false;
};

#define REQUIRE_MOUNT(m)                                                                    \
  do {                                                                                      \
    if (!(m).mounted())                                                                     \
      GTEST_SKIP() << "\n*** CANNOT MOUNT tmpfs (" << (m).error()                           \
                   << "): this filesystem failure case is NOT TESTED ***";                  \
  } while (0)

TEST(ObjectStoreKey, ValidKeys) {
  for (const std::string& key :
       std::vector<std::string>{"a", "incoming/2026-11-23/abc.jpg", "known/alice/1.jpg",
                                "x/.hidden", "a..b/c", "A_Z-09.", std::string(512, 'k')})
    EXPECT_TRUE(ValidateObjectKey(key).ok()) << key;
}

TEST(ObjectStoreKey, PathTricksAreInvalidArgument) {
  const std::vector<std::string> bad = {"",       "../x",    "/etc/passwd", "a/../../b",
                                        "a//b",   "a/./b",   "a\\b",        "..\\x",
                                        std::string("a\0b", 3), "a/",       ".",
                                        "..",     "x/..",    "a b",         "a:b",
                                        "~x",     "é",       std::string(513, 'k')};
  for (const auto& key : bad) {
    const Status st = ValidateObjectKey(key);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << key;
  }
}

TEST(ObjectStoreKey, Prefixes) {
  for (const std::string p : {"", "known/", "known/ali", "unknown/2026-", "a/.", "a/.."})
    EXPECT_TRUE(ValidateObjectPrefix(p).ok()) << p;
  for (const std::string p : {"../", "/", "a//", "a/./", "a/../", "a\\"})
    EXPECT_EQ(ValidateObjectPrefix(p).code(), Status::Code::kInvalidArgument) << p;
}

TEST_F(ObjectStoreTest, ObjectsArePrivateFiles) {
  ASSERT_TRUE(store_->Put("known/alice/1.jpg", "face").ok());
  struct stat st {};
  ASSERT_EQ(stat(dir_.Sub("objects/known/alice/1.jpg").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir_.Sub("objects/known/alice").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ObjectStoreTest, PathTricksAreRejectedAndWriteNothing) {
  for (const auto& key : testing::PathTrickKeys()) testing::ExpectKeyRefused(*store_, key);
  EXPECT_EQ(AllFiles(dir_.path()), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists("/etc/passwd~"));
}

TEST_F(ObjectStoreTest, SymlinkOutOfTheRootIsRefused) {
  const std::string outside = dir_.Sub("outside");
  fs::create_directories(outside);
  std::ofstream(outside + "/secret") << "secret";
  fs::create_directory_symlink(outside, dir_.Sub("objects/evil"));
  fs::create_symlink(outside + "/secret", dir_.Sub("objects/link.txt"));

  EXPECT_EQ(store_->Put("evil/planted", "x").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->Get("evil/secret").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->Get("link.txt").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->Delete("evil/secret").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->Move("evil/secret", "stolen").code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(outside + "/planted"));
  EXPECT_TRUE(fs::exists(outside + "/secret"));
  // Listing does not follow the links out either.
  EXPECT_TRUE(store_->List("")->empty());
}

TEST_F(ObjectStoreTest, PutsLeaveNoTempFilesAndListHidesStrays) {
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(store_->Put("known/alice/" + std::to_string(i % 5) + ".jpg",
                            std::string(1000 + i, 'a'))
                    .ok());
  const std::vector<std::string> expected = {"known/alice/0.jpg", "known/alice/1.jpg",
                                             "known/alice/2.jpg", "known/alice/3.jpg",
                                             "known/alice/4.jpg"};
  EXPECT_EQ(AllFiles(dir_.Sub("objects")), expected);
  // A temp file left by a crash is never listed as an object.
  std::ofstream(dir_.Sub("objects/known/alice/0.jpg~Ab12Cd")) << "partial";
  EXPECT_EQ(*store_->List("known/"), expected);
}

TEST_F(ObjectStoreTest, ConcurrentPutsNeverExposeAPartialObject) {
  const std::string a(256 * 1024, 'a'), b(300 * 1024, 'b');
  ASSERT_TRUE(store_->Put("hot.jpg", a).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      const auto got = store_->Get("hot.jpg");
      if (!got.ok() || (*got != a && *got != b)) torn.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < 30; ++i) EXPECT_TRUE(store_->Put("hot.jpg", (i + w) % 2 ? a : b).ok());
    });
  for (auto& t : writers) t.join();
  while (reads.load() < 20) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_EQ(AllFiles(dir_.Sub("objects")), std::vector<std::string>{"hot.jpg"});
}

TEST_F(ObjectStoreTest, DiskFullIsIoErrorAndKeepsTheOldObject) {
  TmpfsMount tmpfs(dir_.Sub("tiny"), "size=64k");
  REQUIRE_MOUNT(tmpfs);
  auto store = OpenAt(dir_.Sub("tiny/objects"));
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("known/alice/1.jpg", "old picture").ok());

  const std::string big(256 * 1024, 'x');
  const Status full = store->Put("known/alice/1.jpg", big);
  EXPECT_EQ(full.code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, full.message(), "disk full");
  EXPECT_PRED2(Contains, full.message(), "known/alice/1.jpg");
  EXPECT_EQ(*store->Get("known/alice/1.jpg"), "old picture");

  EXPECT_EQ(store->Put("incoming/new.jpg", big).code(), Status::Code::kIoError);
  EXPECT_FALSE(*store->Exists("incoming/new.jpg"));
  EXPECT_EQ(AllFiles(dir_.Sub("tiny/objects")), std::vector<std::string>{"known/alice/1.jpg"});
  // Space is not leaked: a small object still fits.
  EXPECT_TRUE(store->Put("incoming/small.jpg", std::string(1024, 's')).ok());
}

// Needs no mount: the kernel fails writes past RLIMIT_FSIZE with EFBIG, which
// exercises the same cleanup path as a full disk.
TEST_F(ObjectStoreTest, FailedWriteLeavesNoPartialObject) {
  ASSERT_TRUE(store_->Put("a.jpg", "old").ok());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit tight = saved;
  tight.rlim_cur = 16 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tight), 0);
  const Status st = store_->Put("a.jpg", std::string(64 * 1024, 'n'));
  const Status fresh = store_->Put("b.jpg", std::string(64 * 1024, 'n'));
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_EQ(st.code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, st.message(), "a.jpg");
  EXPECT_EQ(fresh.code(), Status::Code::kIoError);
  EXPECT_EQ(*store_->Get("a.jpg"), "old");
  EXPECT_FALSE(*store_->Exists("b.jpg"));
  EXPECT_EQ(AllFiles(dir_.Sub("objects")), std::vector<std::string>{"a.jpg"});
}

TEST_F(ObjectStoreTest, ReadOnlyFilesystemIsIoErrorAndReadsStillWork) {
  TmpfsMount tmpfs(dir_.Sub("ro"), "size=1m");
  REQUIRE_MOUNT(tmpfs);
  auto store = OpenAt(dir_.Sub("ro/objects"));
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("incoming/a.jpg", "a").ok());
  ASSERT_TRUE(tmpfs.MakeReadOnly()) << std::strerror(errno);

  const Status put = store->Put("incoming/b.jpg", "b");
  EXPECT_EQ(put.code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, put.message(), "read-only");
  EXPECT_EQ(store->Put("new/dir/c.jpg", "c").code(), Status::Code::kIoError);
  EXPECT_EQ(store->Delete("incoming/a.jpg").code(), Status::Code::kIoError);
  EXPECT_EQ(store->Move("incoming/a.jpg", "known/a.jpg").code(), Status::Code::kIoError);
  EXPECT_EQ(*store->Get("incoming/a.jpg"), "a");
  EXPECT_EQ(*store->List(""), std::vector<std::string>{"incoming/a.jpg"});
}

TEST(OpenObjectStore, Kinds) {
  TempDir dir;
  ObjectStoreConfig config;
  auto fs_store = OpenObjectStore(config, dir.Sub("default-root"));
  ASSERT_TRUE(fs_store.ok()) << fs_store.status().ToString();
  ASSERT_TRUE((*fs_store)->Put("k", "v").ok());
  EXPECT_TRUE(fs::exists(dir.Sub("default-root/k")));

  EXPECT_EQ(OpenObjectStore(config, "").status().code(), Status::Code::kInvalidArgument);

  config.kind = "s3";  // dispatched to S3ObjectStore, which needs an endpoint
  const auto s3 = OpenObjectStore(config, dir.path());
  EXPECT_EQ(s3.status().code(), Status::Code::kInvalidArgument);
  EXPECT_PRED2(Contains, s3.status().message(), "s3_endpoint");

  config.kind = "ftp";
  const auto ftp = OpenObjectStore(config, dir.path());
  EXPECT_EQ(ftp.status().code(), Status::Code::kInvalidArgument);
  EXPECT_PRED2(Contains, ftp.status().message(), "ftp");

  std::ofstream(dir.Sub("file")) << "x";
  config.kind = "fs";
  config.root = dir.Sub("file");
  EXPECT_EQ(OpenObjectStore(config, "").status().code(), Status::Code::kIoError);
}

}  // namespace
}  // namespace concierge
