// Seeds a data dir with many decided sightings and their visits for the HTTP
// benchmarks (bench/http_bench.sh): the rows go through the SQLite
// SightingStore exactly as the server writes them (Insert, then
// RecordDecision joining or starting a visit), over the last 6 days (inside
// every retention period, so the server's retention pass leaves them alone), one
// third strangers and the rest people already in the face collection
// (enroll them first). One real crop is stored per person and per stranger
// visit and shared by that visit's sightings, which keeps the seed small; the
// list endpoints never read pictures.
//   build/bench/seed_sightings_bench <data_dir> <count> <crop.jpg>
// Not a Google Benchmark program: it only prepares data, and says how long it took.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "pipeline/ingest.h"
#include "pipeline/matcher.h"
#include "pipeline/sighting.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sqlite_sighting_store.h"
#include "vision/model_pack.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

constexpr int kSightingsPerVisit = 5;
constexpr int64_t kDayMs = 24 * 3600 * 1000LL;

[[noreturn]] void Die(const Status& status) {
  std::fprintf(stderr, "seed_sightings_bench: %s\n", status.ToString().c_str());
  std::exit(1);
}

template <typename T>
T OrDie(Result<T> result) {
  if (!result.ok()) Die(result.status());
  return std::move(result).value();
}

void OrDie(const Status& status) {
  if (!status.ok()) Die(status);
}

int Seed(const std::string& data_dir, int count, const std::string& crop_path) {
  Config config;
  config.data_dir = data_dir;
  auto db = OrDie(Database::OpenSqlite(config.DatabasePath(), 5000));
  // Seeding only: a crash would just mean seeding again.
  OrDie(db->WithConnection([](Connection& c) { return c.Exec("PRAGMA synchronous = OFF"); }));
  auto store = NewSqliteSightingStore(db.get());
  auto objects = OrDie(OpenObjectStore(config.objects, config.ObjectRoot()));
  auto faces = OrDie(FaceCollection::Open(db.get(), config.recognition.collection,
                                               SpacesOf(OrDie(LoadModelPack(DefaultModelsDir())).embedders)));
  const auto persons = OrDie(faces->ListPersons());
  const std::string crop = OrDie(ReadFileBytes(crop_path, 10 << 20));

  std::mt19937 rng(42);
  const int64_t now = NowMs();
  constexpr int64_t kSpanMs = 6 * kDayMs;
  const int64_t start = now - kSpanMs;
  const int visits = (count + kSightingsPerVisit - 1) / kSightingsPerVisit;
  const int64_t step = kSpanMs / visits;
  const auto began = std::chrono::steady_clock::now();
  int written = 0;
  for (int v = 0; v < visits && written < count; ++v) {
    const bool stranger = persons.empty() || rng() % 3 == 0;
    const std::string person = stranger ? "" : persons[rng() % persons.size()].id;
    const int64_t visit_start = start + v * step;
    std::string key;
    VisitChoice choice{VisitChoice::Kind::kStart, 0};
    for (int k = 0; k < kSightingsPerVisit && written < count; ++k, ++written) {
      SightingRecord s;
      s.id = NewSightingId();
      s.camera = k % 2 ? "door" : "lobby";
      s.site = "office";
      s.track = "seed-" + std::to_string(v);
      s.seq = k;
      s.captured_ms = visit_start + k * 20'000;
      s.received_ms = s.captured_ms + 40;
      s.box = {100, 80, 120, 150};
      s.detector_score = 0.95f;
      s.quality.size_px = 120;
      s.quality.score = 0.8f;
      s.live_score = 0.9f;
      s.image_key = SightingImageKey("incoming", s.id, s.captured_ms);
      OrDie(store->Insert(s));
      if (key.empty()) {
        key = SightingImageKey(stranger ? "unknown" : "known/" + person, s.id, s.captured_ms);
        OrDie(objects->Put(key, crop));
      }
      SightingOutcome o;
      o.id = s.id;
      o.decision = stranger ? Decision::kUnknown : Decision::kKnown;
      if (!stranger) o.person_id = person;
      o.similarity = stranger ? 0.2f : 0.7f;
      o.live_score = s.live_score;
      o.image_key = key;
      const DecisionResult decided = OrDie(store->RecordDecision(o, choice));
      if (decided.visit) choice = {VisitChoice::Kind::kJoin, decided.visit->id};
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::printf("seeded %d sightings in %d visits (%zu people) into %s in %.1f s\n", written,
              visits, persons.size(), data_dir.c_str(), seconds);
  return 0;
}

}  // namespace
}  // namespace concierge

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <data_dir> <count> <crop.jpg>\n", argv[0]);
    return 2;
  }
  return concierge::Seed(argv[1], std::atoi(argv[2]), argv[3]);
}
