// Exact face search latency: 512-d embeddings, ~5 faces per person, top-10.
// Run: build/bench/search_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "store/database.h"
#include "store/face_collection.h"

namespace concierge {
namespace {

constexpr int kDims = 512;
constexpr char kModel[] = "bench@000000000000";  // one random 512-d model
constexpr int kFacesPerPerson = 5;
constexpr int kTopK = 10;

Embedding RandomUnit(std::mt19937& rng) {
  std::normal_distribution<float> normal;
  Embedding v(kDims);
  double norm2 = 0;
  for (auto& x : v) {
    x = normal(rng);
    norm2 += static_cast<double>(x) * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm2));
  return v;
}

// A populated collection in a temp database; removed when the program exits.
struct Setup {
  std::string dir;
  std::unique_ptr<Database> db;
  std::unique_ptr<FaceCollection> faces;
  std::vector<Descriptor> probes;

  ~Setup() {
    faces.reset();
    db.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Builds the collection of `n` faces once and reuses it for both modes.
// Aborts on setup failure: a benchmark of a half-built collection is meaningless.
const Setup& SetupFor(int n) {
  static std::map<int, std::unique_ptr<Setup>> cache;
  auto& slot = cache[n];
  if (slot) return *slot;
  const auto fail = [](const Status& st) {
    std::fprintf(stderr, "search_bench setup failed: %s\n", st.ToString().c_str());
    std::abort();
  };
  slot = std::make_unique<Setup>();
  std::string tmpl = (std::filesystem::temp_directory_path() / "search-bench-XXXXXX").string();
  slot->dir = mkdtemp(tmpl.data());
  auto db = Database::OpenSqlite(slot->dir + "/bench.db", 5000);
  if (!db.ok()) fail(db.status());
  slot->db = std::move(db).value();
  // Setup speed only; the timed part never touches the database.
  if (Status st = slot->db->WithConnection(
          [](Connection& c) { return c.Exec("PRAGMA synchronous = OFF"); });
      !st.ok())
    fail(st);
  auto fc = FaceCollection::Open(slot->db.get(), "bench", {{kModel, kDims}});
  if (!fc.ok()) fail(fc.status());
  slot->faces = std::move(fc).value();

  std::mt19937 rng(static_cast<unsigned>(n));
  const int persons = n / kFacesPerPerson;
  std::vector<FaceRecord> batch;
  for (int p = 0; p < persons; ++p) {
    const std::string id = "person" + std::to_string(p);
    if (Status st = slot->faces->AddPerson({id, id, "", 0}); !st.ok()) fail(st);
    for (int f = 0; f < kFacesPerPerson; ++f) {
      FaceRecord face;
      face.person_id = id;
      face.embeddings = {{kModel, RandomUnit(rng)}};
      batch.push_back(std::move(face));
    }
  }
  if (auto ids = slot->faces->AddFaces(batch); !ids.ok()) fail(ids.status());
  for (int i = 0; i < 64; ++i) slot->probes.push_back({{kModel, RandomUnit(rng)}});
  return *slot;
}

void BM_Search(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const SearchMode mode = state.range(1) == 0 ? SearchMode::kBestFace : SearchMode::kCentroid;
  const Setup& setup = SetupFor(n);
  size_t i = 0;
  for (auto _ : state) {
    auto matches = setup.faces->Search(setup.probes[i++ % setup.probes.size()], kTopK, mode);
    benchmark::DoNotOptimize(matches);
  }
  state.SetLabel(mode == SearchMode::kBestFace ? "best" : "centroid");
  state.counters["persons"] = static_cast<double>(setup.faces->person_count());
}

BENCHMARK(BM_Search)
    ->ArgsProduct({{1000, 10000, 100000}, {0, 1}})
    ->ArgNames({"faces", "centroid"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace concierge

BENCHMARK_MAIN();
