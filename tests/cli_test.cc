// The `concierge` binary as a user meets it: JSON shapes, exit codes, clear
// one-line errors, and no partial writes. Bad inputs covered: missing file,
// 0-byte file, non-image, truncated JPEG, decompression bomb, no face, two
// faces, unknown person id, locked database, read-only database, a read-only
// command run where there is no data dir or database.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/face_images.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::CommandResult;
using testing::DataPath;
namespace fs = std::filesystem;

const char* kObama = "enroll/face_recognition/examples/obama.jpg";
const char* kObama2 = "enroll/face_recognition/examples/obama2.jpg";
const char* kAlex = "enroll/face_recognition/examples/alex-lacamoire.png";
const char* kTwoPeople = "enroll/face_recognition/examples/two_people.jpg";
const char* kBiden = "enroll/face_recognition/examples/biden.jpg";
const char* kLin = "enroll/face_recognition/examples/lin-manuel-miranda.png";

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_TEST_DATA(); }

  CommandResult Run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {testing::BinaryPath(), "--data-dir", dir_.path(), "--log-level", "error"});
    return testing::RunCommand(args, env);
  }
  nlohmann::json Json(const CommandResult& r) {
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "stdout is not one JSON document:\n" << r.out;
    return doc;
  }
  // Exactly one line on stderr, starting with "error:".
  static void ExpectOneLineError(const CommandResult& r, const std::string& fragment) {
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  }
  size_t PeopleCount() {
    auto r = Run({"people", "list", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Json(r)["people"].size();
  }

  testing::TempDir dir_;
};

// OpenCV's imgcodecs and videoio (with GDAL, FFmpeg and GStreamer, ~55 MB
// resident) are a plugin: a JPEG never loads it, a PNG does. LD_DEBUG=files
// makes the loader list every library it maps.
TEST_F(CliTest, OpenCvCodecsAreLoadedOnlyForPicturesThatNeedThem) {
  auto jpeg = Run({"detect", DataPath(kObama), "--json"}, {"LD_DEBUG=files"});
  ASSERT_EQ(jpeg.exit_code, 0) << jpeg.err;
  EXPECT_NE(jpeg.err.find("libonnxruntime"), std::string::npos) << "no loader output:\n" << jpeg.err;
  EXPECT_EQ(jpeg.err.find("libconcierge-media"), std::string::npos);
  EXPECT_EQ(jpeg.err.find("libgdal"), std::string::npos);
  EXPECT_EQ(jpeg.err.find("libavcodec"), std::string::npos);
  EXPECT_EQ(Json(jpeg)["faces"].size(), 1u);

  auto png = Run({"detect", DataPath(kAlex), "--json"}, {"LD_DEBUG=files"});
  ASSERT_EQ(png.exit_code, 0) << png.err;
  EXPECT_NE(png.err.find("libconcierge-media"), std::string::npos);
  EXPECT_EQ(Json(png)["faces"].size(), 1u);
}

TEST_F(CliTest, RunRefusesToStartWhenItsHttpPortIsTaken) {
  // Another instance listening as cpp-httplib's default did: SO_REUSEADDR and SO_REUSEPORT.
  const int other = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(other, 0);
  const int yes = 1;
  setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  setsockopt(other, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(other, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(other, 8), 0);
  ASSERT_EQ(getsockname(other, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  fs::create_directories(dir_.Sub("empty"));
  auto r = Run({"run", "--once", "--source", dir_.Sub("empty")},
               {"CONCIERGE_HTTP_PORT=" + port, "CONCIERGE_HTTP_BIND=127.0.0.1"});
  close(other);
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("error: port " + port + " on 127.0.0.1 is already in use"),
            std::string::npos)
      << r.err;
}

// A large gallery's search index is saved by whoever built it and by `run`
// when it stops after the gallery changed; the next start loads it instead
// of building it, with what changed since applied.
TEST_F(CliTest, TheSearchIndexIsSavedAndTheNextStartLoadsIt) {
  std::ofstream(dir_.Sub("config.json")) << R"({"recognition":{"ann_min_faces":4}})";
  const auto saved = [&] {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_.Sub("index"), ec))
      files.push_back(entry.path().filename().string());
    return files;
  };
  const auto run_once = [&] {
    fs::create_directories(dir_.Sub("empty"));
    return testing::RunCommand({testing::BinaryPath(), "--data-dir", dir_.path(), "--log-level",
                                "info", "run", "--once", "--source", dir_.Sub("empty")});
  };
  ASSERT_EQ(Run({"enroll", "--person", "obama", DataPath(kObama)}).exit_code, 0);
  ASSERT_EQ(Run({"enroll", "--person", "obama", DataPath(kObama2)}).exit_code, 0);
  ASSERT_EQ(Run({"enroll", "--person", "biden", DataPath(kBiden)}).exit_code, 0);
  EXPECT_TRUE(saved().empty()) << "three faces: no index yet";
  ASSERT_EQ(Run({"enroll", "--person", "lin", DataPath(kLin)}).exit_code, 0);
  const auto built = saved();
  ASSERT_EQ(built.size(), 1u) << "the enrolment that reached ann_min_faces built and saved it";
  EXPECT_EQ(built[0].rfind("default.", 0), 0u) << built[0];

  // Another enrolment while no server runs: the next start applies it and,
  // stopping, saves the index as it now is.
  ASSERT_EQ(Run({"enroll", "--person", "alex", DataPath(kAlex)}).exit_code, 0);
  EXPECT_EQ(saved(), built);
  auto first = run_once();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("saved HNSW index of 5 faces loaded"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("(1 faces added or changed since, 0 gone)"), std::string::npos)
      << first.err;
  const auto caught_up = saved();
  ASSERT_EQ(caught_up.size(), 1u);
  EXPECT_NE(caught_up, built);

  auto second = run_once();
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("(0 faces added or changed since, 0 gone)"), std::string::npos)
      << second.err;
  EXPECT_EQ(second.err.find("HNSW index of 5 faces built"), std::string::npos) << second.err;
  EXPECT_EQ(saved(), caught_up) << "nothing changed: nothing saved";
}

TEST_F(CliTest, DetectPrintsTheDocumentedJson) {
  auto r = Run({"detect", DataPath(kObama), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = Json(r);
  ASSERT_EQ(doc["faces"].size(), 1u);
  const auto& face = doc["faces"][0];
  ASSERT_EQ(face["box"].size(), 4u);
  EXPECT_GT(face["box"][2].get<int>(), 100);
  EXPECT_GT(face["score"].get<double>(), 0.9);
  for (const char* k : {"size_px", "sharpness", "yaw", "pitch", "brightness", "score"})
    EXPECT_TRUE(face["quality"].contains(k)) << k;
  EXPECT_TRUE(face["live"].is_number());
}

TEST_F(CliTest, DetectDrawsBoxes) {
  const std::string out = dir_.Sub("drawn.jpg");
  auto r = Run({"detect", DataPath(kTwoPeople), "--draw", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(fs::file_size(out), 1000u);
}

TEST_F(CliTest, EnrollThenIdentifyNamesOnlyTheEnrolledPerson) {
  auto e = Run({"enroll", "--person", "obama", "--name", "Barack Obama", DataPath(kObama)});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.out.find("accepted"), std::string::npos);

  auto r = Run({"identify", DataPath(kObama2), DataPath(kAlex), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = Json(r);
  ASSERT_EQ(doc["faces"].size(), 2u);
  EXPECT_EQ(doc["faces"][0]["person"], "obama");
  EXPECT_EQ(doc["faces"][0]["name"], "Barack Obama");
  EXPECT_GT(doc["faces"][0]["similarity"].get<double>(), 0.5);
  const auto& stranger = doc["faces"][1];
  EXPECT_TRUE(stranger["person"].is_null());
  EXPECT_TRUE(stranger["name"].is_null());
  EXPECT_EQ(stranger.dump().find("obama"), std::string::npos) << "an unknown face must carry no person id";
}

TEST_F(CliTest, TargetRateSetsTheThreshold) {
  ASSERT_EQ(Run({"enroll", "--person", "obama", DataPath(kObama)}).exit_code, 0);
  auto usual = Run({"identify", DataPath(kObama2), "--json"});
  ASSERT_EQ(usual.exit_code, 0) << usual.err;
  EXPECT_EQ(Json(usual)["faces"][0]["person"], "obama") << usual.out;
  // A stricter rate means a higher threshold, a looser one a lower; the
  // configured one is in force.
  auto threshold = [&](const std::string& rate) {
    auto r = Run({"calibrate", "--json", "--target-rate", rate});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto doc = Json(r);
    EXPECT_EQ(doc["in_force"]["target_false_welcome_rate"], 0.001);
    return doc["replay"]["proposed"]["primary_threshold"].get<double>();
  };
  const double strict = threshold("1e-9"), usual_rate = threshold("0.001"), loose = threshold("0.1");
  EXPECT_GT(strict, usual_rate);
  EXPECT_GT(usual_rate, loose);
  EXPECT_EQ(Run({"identify", DataPath(kObama2), "--target-rate", "2"}).exit_code, 2);
}

TEST_F(CliTest, EnrollRefusesGroupPhotosUnlessLargest) {
  auto r = Run({"enroll", "--person", "obama", DataPath(kTwoPeople)});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.out.find("--largest"), std::string::npos) << r.out;
  EXPECT_EQ(PeopleCount(), 0u) << "a refused photo must not create the person";
  auto ok = Run({"enroll", "--person", "obama", "--largest", DataPath(kTwoPeople)});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(PeopleCount(), 1u);
}

TEST_F(CliTest, EnrollFolderShowsProgressAndVerdicts) {
  const std::string folder = DataPath("enroll/dlib_johns/examples/johns");
  const std::string person = (*fs::directory_iterator(folder)).path().string();
  auto r = Run({"enroll", "--person", "john", person});
  EXPECT_NE(r.err.find("[#"), std::string::npos) << "progress bar expected on stderr";
  EXPECT_NE(r.out.find("accepted"), std::string::npos);
  // Each photo gets a verdict line.
  const auto photos = std::distance(fs::directory_iterator(person), fs::directory_iterator{});
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), photos) << r.out;
}

TEST_F(CliTest, BadPicturesGetOneLineErrorsAndExitCodes) {
  testing::WriteFile(dir_.Sub("empty.jpg"), "");
  testing::WriteFile(dir_.Sub("notes.jpg"), "this is a text file");
  const std::string jpeg = testing::ReadFile(DataPath(kObama));
  testing::WriteFile(dir_.Sub("cut.jpg"), jpeg.substr(0, jpeg.size() / 3));
  testing::WriteFile(dir_.Sub("bomb.png"), testing::PngBombHeader(30000, 30000));

  struct Case {
    std::string file;
    int exit_code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {dir_.Sub("absent.jpg"), 3, "no such file"},
      {dir_.Sub("empty.jpg"), 4, "empty"},
      {dir_.Sub("notes.jpg"), 4, "not a supported image"},
      {dir_.Sub("cut.jpg"), 4, "truncated"},
      {dir_.Sub("bomb.png"), 4, "30000x30000"},
      {DataPath("negatives/dlib_misc/examples_mmod_cars_test_image.jpg"), 5, "no face"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    // enroll first: it creates the database that the read-only identify needs.
    auto e = Run({"enroll", "--person", "p1", c.file});
    EXPECT_EQ(e.exit_code, c.exit_code) << e.out;
    auto r = Run({"identify", c.file});
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    ExpectOneLineError(r, c.says);
  }
  EXPECT_EQ(PeopleCount(), 0u) << "failed enrolments must write nothing";
  EXPECT_FALSE(fs::exists(dir_.Sub("objects/faces"))) << "failed enrolments must store no picture";
}

TEST_F(CliTest, BombLimitIsConfigurable) {
  auto r = Run({"detect", DataPath(kObama)}, {"CONCIERGE_VISION_MAX_IMAGE_PIXELS=1000"});
  EXPECT_EQ(r.exit_code, 4);
  ExpectOneLineError(r, "limit 1000");
}

TEST_F(CliTest, UnknownPersonIdIsNotFound) {
  // rename first: it creates the database that the read-only show needs.
  using Args = std::vector<std::string>;
  for (const Args& args : {Args{"people", "rename", "nobody", "Name"},
                           Args{"people", "show", "nobody"}, Args{"people", "forget", "nobody"}}) {
    auto r = Run(args);
    EXPECT_EQ(r.exit_code, 3) << args[1];
    ExpectOneLineError(r, "nobody");
  }
  auto bad = Run({"enroll", "--person", "../etc", DataPath(kObama)});
  EXPECT_EQ(bad.exit_code, 4);
}

TEST_F(CliTest, PeopleRenameShowAndForgetEverything) {
  ASSERT_EQ(Run({"enroll", "--person", "obama", DataPath(kObama), DataPath(kObama2)}).exit_code, 0);
  ASSERT_EQ(Run({"people", "rename", "obama", "President Obama"}).exit_code, 0);
  auto show = Run({"people", "show", "obama", "--json"});
  ASSERT_EQ(show.exit_code, 0);
  auto doc = Json(show);
  EXPECT_EQ(doc["name"], "President Obama");
  ASSERT_EQ(doc["faces"].size(), 2u);
  const std::string key = doc["faces"][0]["image_key"];
  EXPECT_TRUE(fs::exists(dir_.Sub("objects/" + key)));

  ASSERT_EQ(Run({"people", "forget", "obama"}).exit_code, 0);
  EXPECT_EQ(PeopleCount(), 0u);
  EXPECT_FALSE(fs::exists(dir_.Sub("objects/" + key)));
  auto r = Run({"identify", DataPath(kObama2), "--json"});
  EXPECT_TRUE(Json(r)["faces"][0]["person"].is_null()) << "a forgotten face must not match";
}

TEST_F(CliTest, PeopleMergeGivesTheDuplicatesFacesToTheSurvivor) {
  ASSERT_EQ(Run({"enroll", "--person", "obama", DataPath(kObama)}).exit_code, 0);
  ASSERT_EQ(Run({"enroll", "--person", "barack", DataPath(kObama2)}).exit_code, 0);
  EXPECT_EQ(Run({"people", "merge", "obama", "nobody"}).exit_code, 3);
  EXPECT_EQ(Run({"people", "merge", "obama", "obama"}).exit_code, 4);
  EXPECT_EQ(PeopleCount(), 2u);

  auto merged = Run({"people", "merge", "obama", "barack", "--json"});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(Json(merged)["faces"], 1);
  EXPECT_EQ(PeopleCount(), 1u);
  auto show = Json(Run({"people", "show", "obama", "--json"}));
  ASSERT_EQ(show["faces"].size(), 2u);
  for (const auto& face : show["faces"]) {
    const std::string key = face["image_key"];
    EXPECT_EQ(key.rfind("faces/obama/", 0), 0u) << key;
    EXPECT_TRUE(fs::exists(dir_.Sub("objects/" + key))) << key;
  }
  auto r = Run({"identify", DataPath(kObama2), "--json"});
  EXPECT_EQ(Json(r)["faces"][0]["person"], "obama");
}

TEST_F(CliTest, EnrollResolvesTheOpenStrangersItNowRecognises) {
  // Obama comes to the door before anyone knows him: an open stranger.
  fs::create_directories(dir_.Sub("door"));
  fs::copy_file(DataPath(kObama2), dir_.Sub("door/obama2.jpg"));
  const auto seen = Run({"run", "--once", "--source", dir_.Sub("door")},
                        {"CONCIERGE_HTTP_PORT=" + std::to_string(testing::FreePort()),
                         "CONCIERGE_HTTP_BIND=127.0.0.1"});
  ASSERT_EQ(seen.exit_code, 0) << seen.err;
  const auto before = Json(Run({"sightings", "--json"}));
  ASSERT_EQ(before["sightings"].size(), 1u) << before.dump();
  EXPECT_EQ(before["sightings"][0]["decision"], "unknown");

  const auto enrolled = Run({"enroll", "--person", "obama", DataPath(kObama), "--json"});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  EXPECT_EQ(Json(enrolled)["strangers_resolved"].size(), 1u) << enrolled.out;
  const auto after = Json(Run({"sightings", "--json"}));
  ASSERT_EQ(after["sightings"].size(), 1u);
  EXPECT_EQ(after["sightings"][0]["decision"], "known");
  EXPECT_EQ(after["sightings"][0]["person"]["id"], "obama");

  // Enrolling someone else resolves nobody.
  const auto other = Run({"enroll", "--person", "alex", DataPath(kAlex), "--json"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(Json(other)["strangers_resolved"].size(), 0u);
}

TEST_F(CliTest, DataDirsNeverShareState) {
  ASSERT_EQ(Run({"enroll", "--person", "obama", DataPath(kObama)}).exit_code, 0);
  testing::TempDir other;
  const std::vector<std::string> env = {"CONCIERGE_DATA_DIR=" + other.path()};
  const std::string bin = testing::BinaryPath();
  const auto alex = testing::RunCommand({bin, "enroll", "--person", "alex", DataPath(kAlex)}, env);
  ASSERT_EQ(alex.exit_code, 0) << alex.err;
  auto r = testing::RunCommand({bin, "identify", DataPath(kObama2), "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Json(r)["faces"][0]["person"].is_null());
  EXPECT_TRUE(fs::exists(other.Sub("concierge.db")));
}

// Every command that only reads, as a user runs it in the wrong folder.
std::vector<std::vector<std::string>> ReadOnlyCommands() {
  return {{"user", "list"},  {"token", "list"}, {"aws-key", "list"},
          {"people", "list"}, {"people", "show", "obama"}, {"sightings"},
          {"visits"},         {"calibrate"},      {"identify", DataPath(kObama)},
          {"search", DataPath(kObama)}};
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(e.path().string());
  return names;
}

TEST_F(CliTest, ReadOnlyCommandsNeverCreateADataDirAndSayWhereTheyLooked) {
  testing::TempDir folder;
  const std::string looked = folder.Sub("concierge-data");
  for (auto args : ReadOnlyCommands()) {
    SCOPED_TRACE(args[0] + " " + (args.size() > 1 ? args[1] : ""));
    args.insert(args.begin(), {testing::BinaryPath(), "--log-level", "error"});
    // No --data-dir and no CONCIERGE_DATA_DIR: ./concierge-data of the folder.
    auto r = testing::RunCommand(args, {"CONCIERGE_DATA_DIR="}, folder.path());
    EXPECT_EQ(r.exit_code, 3) << r.err;
    ExpectOneLineError(r, "no data dir at " + looked);
    EXPECT_EQ(Entries(folder.path()), std::vector<std::string>{});
  }
}

TEST_F(CliTest, ReadOnlyCommandsNeverCreateADatabaseAndSayWhereTheyLooked) {
  for (const auto& args : ReadOnlyCommands()) {
    SCOPED_TRACE(args[0] + " " + (args.size() > 1 ? args[1] : ""));
    auto r = Run(args);
    EXPECT_EQ(r.exit_code, 3) << r.err;
    ExpectOneLineError(r, "no database at " + dir_.Sub("concierge.db"));
    EXPECT_EQ(Entries(dir_.path()), std::vector<std::string>{});
  }
  // The JSON error says the same.
  auto r = Run({"people", "list", "--json"});
  EXPECT_EQ(Json(r)["error"]["code"], "not_found") << r.out;
}

TEST_F(CliTest, LockedDatabaseIsAClearStorageError) {
  ASSERT_EQ(Run({"enroll", "--person", "obama", DataPath(kObama)}).exit_code, 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.Sub("concierge.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = Run({"enroll", "--person", "obama", DataPath(kObama2)}, {"CONCIERGE_DATABASE_BUSY_TIMEOUT_MS=200"});
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("locked"), std::string::npos) << r.out << r.err;
  auto show = Json(Run({"people", "show", "obama", "--json"}));
  EXPECT_EQ(show["faces"].size(), 1u) << "the locked attempt must not half-write";
}

TEST_F(CliTest, ReadOnlyDatabaseIsAClearStorageError) {
  const std::string mnt = dir_.Sub("ro");
  fs::create_directory(mnt);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m") != 0)
    GTEST_SKIP() << "\n*** CANNOT MOUNT tmpfs (" << std::strerror(errno) << "): read-only case NOT TESTED ***";
  struct Unmount {
    std::string dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{mnt};
  auto first = testing::RunCommand({testing::BinaryPath(), "--data-dir", mnt, "enroll", "--person", "obama",
                                    DataPath(kObama)});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=8m"), 0) << std::strerror(errno);
  auto r = testing::RunCommand({testing::BinaryPath(), "--data-dir", mnt, "enroll", "--person", "obama",
                                DataPath(kObama2)});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("read-only"), std::string::npos) << r.out << r.err;
}

// `eval cluster` on a small replayed week: the JSON BENCHMARKS.md quotes,
// with figures a real replay gives, the text made from it, and a clear
// error where the data is missing.
TEST_F(CliTest, EvalClusterReplaysStrangersAndReportsItsFigures) {
  const std::vector<std::string> week = {"eval", "cluster", "--data", testing::DataPath(""),
                                         "--people", "4", "--singles", "3", "--max-photos", "4"};
  std::vector<std::string> json_args = week;
  json_args.insert(json_args.begin(), "--json");
  auto r = Run(json_args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = Json(r);
  EXPECT_EQ(doc["returning_people"], 4);
  EXPECT_EQ(doc["people"], 7);
  EXPECT_EQ(doc["faces"], 4 * 4 + 3);  // every LFW photo shows a face
  EXPECT_GE(doc["clusters"].get<int>(), 7);
  EXPECT_GE(doc["cards_per_returning_stranger"].get<double>(), 1.0);
  EXPECT_LE(doc["one_card_share"].get<double>(), 1.0);
  EXPECT_GT(doc["bcubed_precision"].get<double>(), 0.9);
  EXPECT_GT(doc["bcubed_recall"].get<double>(), 0.5);
  EXPECT_EQ(doc["cluster_threshold"], 0.5);
  EXPECT_EQ(doc["merge_as_evidence_grows"], true);

  auto text = Run(week);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("19 faces of 7 strangers (4 returning), threshold 0.50, merging on"),
            std::string::npos) << text.out;
  EXPECT_NE(text.out.find("cards per returning stranger: "), std::string::npos) << text.out;

  auto missing = Run({"eval", "cluster", "--data", dir_.Sub("no-data")});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;  // not found
  ExpectOneLineError(missing, "people.txt");
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({"identify"}).exit_code, 2);
  EXPECT_EQ(Run({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(Run({"--help"}).exit_code, 0);
}

}  // namespace
}  // namespace concierge
