// Face search at scale: exact scan against the HNSW index, through
// FaceCollection as the server uses it.
// Run: build/bench/search_bench --faces 100000 --json
//
// The collection looks like a face collection: faces/k persons, each with k
// faces scattered around the person's own centre (512-d, per-component noise
// --sigma; 0.032 gives same-person cosines near 0.65, strangers near 0), not
// uniform random vectors, which no real gallery resembles. Probes are new
// faces of random persons. For each index it prints one line: p50/p99 of
// single warm queries (top-10, one thread), recall@1 (the same top person as
// the exact scan; with --ef-search 128,512 one line per value, from one
// build), build_s (opening the collection from SQLite, i.e. what a
// server start costs: loading plus, for hnsw, building the index and saving
// it), the process RSS with that collection open and the collection's
// vector_bytes(). A last hnsw line ("start":"saved") measures the next
// start: the collection opened again, loading the saved index (its size in
// saved_mb) instead of building it.
//
// With --fill-db PATH --models-dir DIR it only writes such a collection, with
// a vector of every embedder of that model pack per face, into the SQLite
// database PATH (a data dir's concierge.db), for measuring a running server.
#include <malloc.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "pipeline/matcher.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "vision/model_pack.h"

namespace concierge {
namespace {

constexpr int kDims = 512;
constexpr char kModel[] = "bench@000000000000";
constexpr int kTopK = 10;

struct Args {
  long faces = 100000;
  int per_person = 5;
  double sigma = 0.032;
  int probes = 1000;
  std::string mode = "centroid";
  AnnOptions ann;
  std::vector<int> ef_searches{AnnOptions{}.ef_search};  // one build, measured at each
  bool json = false;
  std::string fill_db, models_dir, collection = "default";
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "search_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const Status& st) {
  if (!st.ok()) Fail(st.ToString());
}

// "128,256,512": the index is built once and measured at each.
std::vector<int> EfSearches(const std::string& list) {
  std::vector<int> out;
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    out.push_back(std::stoi(list.substr(start, comma - start)));
    if (out.back() < 1) Fail("--ef-search needs values >= 1");
    start = comma + 1;
  }
  return out;
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) Fail(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--json") a.json = true;
    else if (flag == "--faces") a.faces = std::stol(value());
    else if (flag == "--per-person") a.per_person = std::stoi(value());
    else if (flag == "--sigma") a.sigma = std::stod(value());
    else if (flag == "--probes") a.probes = std::stoi(value());
    else if (flag == "--mode") a.mode = value();
    else if (flag == "--m") a.ann.m = std::stoi(value());
    else if (flag == "--ef-construction") a.ann.ef_construction = std::stoi(value());
    else if (flag == "--ef-search") a.ef_searches = EfSearches(value());
    else if (flag == "--fill-db") a.fill_db = value();
    else if (flag == "--models-dir") a.models_dir = value();
    else if (flag == "--collection") a.collection = value();
    else
      Fail("unknown flag " + flag +
           " (--faces N --json --per-person K --sigma S --probes P --mode best|centroid "
           "--m M --ef-construction E --ef-search E[,E...] | --fill-db PATH --models-dir DIR "
           "[--collection NAME])");
  }
  if (a.faces < a.per_person || a.per_person < 1 || a.probes < 1) Fail("bad sizes");
  a.ann.ef_search = a.ef_searches.front();
  if (!a.fill_db.empty() && a.models_dir.empty()) Fail("--fill-db needs --models-dir");
  return a;
}

void Normalise(Embedding& v) {
  double norm2 = 0;
  for (const float x : v) norm2 += static_cast<double>(x) * x;
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm2));
}

// Person p's centre in a space of `dims`: the same for a given p on every
// call, so probes need not keep them all.
Embedding Centre(long p, int dims = kDims) {
  std::mt19937 rng(static_cast<unsigned>(p) * 2654435761u + 1);
  std::normal_distribution<float> normal;
  Embedding v(static_cast<size_t>(dims));
  for (auto& x : v) x = normal(rng);
  Normalise(v);
  return v;
}

Embedding Around(const Embedding& centre, double sigma, std::mt19937& rng) {
  std::normal_distribution<float> noise(0, static_cast<float>(sigma));
  Embedding v = centre;
  for (auto& x : v) x += noise(rng);
  Normalise(v);
  return v;
}

// What the process holds now: heap freed by the setup is returned first.
double RssMb() {
  malloc_trim(0);
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// The collection written once into a temp SQLite database (removed at exit).
struct Store {
  std::string dir;
  std::unique_ptr<Database> db;
  ~Store() {
    db.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Writes a.faces faces of a.faces / a.per_person persons into `db`, a
// vector of each space per face. The noise is scaled per space so that
// same-person cosines are alike whatever the dims.
void FillCollection(Database* db, const std::string& collection,
                    const std::vector<VectorSpace>& spaces, const Args& a) {
  // Setup speed only; the timed part never touches the database.
  Check(db->WithConnection([](Connection& c) { return c.Exec("PRAGMA synchronous = OFF"); }));
  auto faces = FaceCollection::Open(db, collection, spaces);
  if (!faces.ok()) Fail(faces.status().ToString());
  std::mt19937 rng(7);
  const long persons = a.faces / a.per_person;
  std::vector<FaceRecord> batch;
  for (long p = 0; p < persons; ++p) {
    const std::string id = "person" + std::to_string(p);
    Check((*faces)->AddPerson({id, id, "", 0}));
    std::vector<Embedding> centres;
    for (const VectorSpace& space : spaces) centres.push_back(Centre(p, space.dims));
    for (int f = 0; f < a.per_person; ++f) {
      FaceRecord face;
      face.person_id = id;
      for (size_t s = 0; s < spaces.size(); ++s)
        face.embeddings.push_back(
            {spaces[s].model,
             Around(centres[s], a.sigma * std::sqrt(double(kDims) / spaces[s].dims), rng)});
      batch.push_back(std::move(face));
    }
    if (batch.size() >= 20000 || p + 1 == persons) {
      if (auto ids = (*faces)->AddFaces(batch); !ids.ok()) Fail(ids.status().ToString());
      batch.clear();
    }
  }
}

void Fill(Store& store, const Args& a) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "search-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Fail("cannot make a temp dir");
  store.dir = tmpl;
  auto db = Database::OpenSqlite(store.dir + "/bench.db", 5000);
  if (!db.ok()) Fail(db.status().ToString());
  store.db = std::move(db).value();
  FillCollection(store.db.get(), "bench", {{kModel, kDims}}, a);
}

int FillServerDatabase(const Args& a) {
  const Result<ModelPack> pack = LoadModelPack(a.models_dir);
  if (!pack.ok()) Fail(pack.status().ToString());
  auto db = Database::OpenSqlite(a.fill_db, 5000);
  if (!db.ok()) Fail(db.status().ToString());
  FillCollection(db->get(), a.collection, SpacesOf(pack->embedders), a);
  std::printf("%ld faces written to collection %s of %s\n", a.faces, a.collection.c_str(),
              a.fill_db.c_str());
  return 0;
}

struct Run {
  std::vector<double> ms;
  std::vector<std::string> top;
};

Run Measure(const FaceCollection& faces, const std::vector<Descriptor>& probes, SearchMode mode) {
  for (const auto& probe : probes) (void)faces.Search(probe, kTopK, mode);  // warm
  Run run;
  for (const auto& probe : probes) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<Match> matches = faces.Search(probe, kTopK, mode);
    run.ms.push_back(Seconds(start) * 1000);
    run.top.push_back(matches.empty() ? "" : matches[0].person_id);
  }
  std::sort(run.ms.begin(), run.ms.end());
  return run;
}

double Percentile(const std::vector<double>& sorted, double q) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * double(sorted.size())))];
}

// How the measured collection started: "built" (from the store) or
// "saved" (from the saved index); saved_mb is that file's size.
struct Start {
  const char* kind = "built";
  double seconds = 0;
  double saved_mb = 0;
};

void Report(const Args& a, const FaceCollection& faces, const Run& run, double recall,
            const Start& start) {
  const double p50 = Percentile(run.ms, 0.50), p99 = Percentile(run.ms, 0.99);
  const double vector_mb = double(faces.vector_bytes()) / (1024.0 * 1024.0);
  if (a.json) {
    std::printf(
        "{\"faces\":%ld,\"index\":\"%s\",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"recall_at_1\":%.4f,"
        "\"build_s\":%.2f,\"rss_mb\":%.0f,\"vector_mb\":%.0f,\"start\":\"%s\",\"saved_mb\":%.0f,"
        "\"mode\":\"%s\",\"per_person\":%d,\"probes\":%d,\"m\":%d,\"ef_construction\":%d,"
        "\"ef_search\":%d}\n",
        a.faces, faces.search_index(), p50, p99, recall, start.seconds, RssMb(), vector_mb,
        start.kind, start.saved_mb, a.mode.c_str(), a.per_person, a.probes, a.ann.m,
        a.ann.ef_construction, a.ann.ef_search);
  } else {
    std::printf(
        "%-6s faces %ld: p50 %.3f ms, p99 %.3f ms, recall@1 %.4f, %s start %.2f s, RSS %.0f MB, "
        "vectors %.0f MB\n",
        faces.search_index(), a.faces, p50, p99, recall, start.kind, start.seconds, RssMb(),
        vector_mb);
  }
  std::fflush(stdout);
}

// The size of the index files saved in `dir`.
double SavedMb(const std::string& dir) {
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".hnsw") bytes += entry.file_size();
  return double(bytes) / (1024.0 * 1024.0);
}

int Main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  if (a.json) spdlog::set_level(spdlog::level::warn);  // stdout carries only the JSON lines
  if (!a.fill_db.empty()) return FillServerDatabase(a);
  const Result<SearchMode> mode = ParseSearchMode(a.mode);
  if (!mode.ok()) Fail(mode.status().ToString());
  Store store;
  Fill(store, a);

  std::mt19937 rng(11);
  std::uniform_int_distribution<long> person(0, a.faces / a.per_person - 1);
  std::vector<Descriptor> probes;
  for (int i = 0; i < a.probes; ++i) probes.push_back({{kModel, Around(Centre(person(rng)), a.sigma, rng)}});

  Run exact;
  {
    const auto start = std::chrono::steady_clock::now();
    auto faces = FaceCollection::Open(store.db.get(), "bench", {{kModel, kDims}});
    if (!faces.ok()) Fail(faces.status().ToString());
    const Start loaded{"built", Seconds(start)};
    exact = Measure(**faces, probes, *mode);
    Report(a, **faces, exact, 1.0, loaded);
  }
  SearchIndexOptions index;
  index.ann_min_faces = 1;
  index.ann = a.ann;
  index.save_dir = store.dir + "/index";
  const auto measure = [&](const FaceCollection& faces, const Args& measured, const Start& start) {
    const Run ann = Measure(faces, probes, *mode);
    size_t same = 0;
    for (size_t i = 0; i < probes.size(); ++i) same += ann.top[i] == exact.top[i];
    Report(measured, faces, ann, double(same) / double(probes.size()), start);
  };
  const auto open = [&] {
    auto faces = FaceCollection::Open(store.db.get(), "bench", {{kModel, kDims}}, index);
    if (!faces.ok()) Fail(faces.status().ToString());
    if (std::strcmp((*faces)->search_index(), "hnsw") != 0) Fail("no HNSW index");
    return std::move(faces).value();
  };
  auto start = std::chrono::steady_clock::now();
  auto faces = open();
  const Start built{"built", Seconds(start)};
  Args measured = a;
  for (const int ef_search : a.ef_searches) {
    faces->SetEfSearch(ef_search);
    measured.ann.ef_search = ef_search;
    measure(*faces, measured, built);
  }
  faces.reset();
  index.ann.ef_search = measured.ann.ef_search;
  start = std::chrono::steady_clock::now();
  faces = open();
  measure(*faces, measured, {"saved", Seconds(start), SavedMb(index.save_dir)});
  return 0;
}

}  // namespace
}  // namespace concierge

int main(int argc, char** argv) { return concierge::Main(argc, argv); }
