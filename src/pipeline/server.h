// The server side of the pipeline: ingest and recognition on a bus
// subscription. The bus's handler ingests each sighting durably before it
// returns; worker threads (config.serve.workers, sharing one FaceEngine) then
// recognise the pending sightings. Sightings left pending by a crash are
// resumed when the server starts. Every serve.collection_refresh_ms the face
// collection is checked for other processes' changes (people enrolled, tagged
// or forgotten elsewhere) and reloaded, so no restart is needed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "core/config.h"
#include "core/status.h"
#include "pipeline/events.h"
#include "pipeline/ingest.h"
#include "pipeline/recognise.h"
#include "pipeline/visits.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"

namespace concierge {

// What the server works on; all must outlive it. `events` may be null;
// without an `engine` (e.g. one the process shares with its HTTP API) the
// server loads its own.
struct ServerParts {
  SightingStore* sightings = nullptr;
  ObjectStore* objects = nullptr;
  FaceCollection* faces = nullptr;
  EventStream* events = nullptr;
  FaceEngine* engine = nullptr;
};

// Counters since the server started.
struct ServerStats {
  uint64_t recorded = 0;                       // new sightings stored
  uint64_t duplicates = 0;                     // redelivered ids, ignored
  uint64_t rejected = 0;                       // bad messages
  std::map<std::string, uint64_t> rejections;  // bad messages by reason label
  uint64_t decided = 0;                        // sightings this server recognised
  uint64_t failures = 0;  // storage or engine errors that left a sighting pending
  size_t queued = 0;      // sightings waiting for or in recognition
};

// The subscription filter for sightings: "$share/<group>/<prefix>/+/+/sightings"
// on MQTT, so several servers split the load; the plain filter in-process.
std::string SightingFilter(const BusConfig& config);

class Server {
 public:
  // Needs parts that outlive the server and the models in config.vision.
  // Loads the engine (unless given), queues every pending sighting and starts the
  // workers. Nothing arrives until Subscribe.
  static Result<std::unique_ptr<Server>> Start(const Config& config, ServerParts parts);
  // Needs a bus for config.bus that outlives the server; call once. Subscribes
  // to SightingFilter. Open the bus just before: a resumed MQTT session starts
  // delivering at once, and a bus holds only so much for a missing subscriber.
  Status Subscribe(Bus* bus);
  // Stop(). The bus must be stopped first: its handler points at this server.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Finishes every queued sighting, then stops the workers. Sightings the bus
  // delivers afterwards are still recorded, and recognised at the next start.
  // Idempotent.
  void Stop();
  // Makes the workers stop after their current sighting, leaving the queued
  // ones pending (recognised at the next start): a running Stop returns soon.
  void Hurry();
  // Makes a handler waiting out storage trouble give up with kUnavailable,
  // which the bus answers by leaving the message with the broker. Call it
  // before stopping the bus during an outage, so that the bus can stop.
  void StopIngesting();
  // OK unless storing sightings (ingest or recognition) is failing now; then
  // kUnavailable saying for how long. For readiness probes.
  Status StorageStatus() const;
  // Waits until nothing is queued or being recognised; kUnavailable on timeout.
  Status WaitIdle(std::chrono::milliseconds timeout);
  ServerStats Stats() const;
  // Who-is-this decisions with the gallery's calibrated threshold, for others
  // (the API) to share.
  Matcher* matcher() { return matcher_.get(); }

 private:
  Server(const Config& config, ServerParts parts);
  // The bus handler: ingests durably, then queues. On storage trouble it keeps
  // the message (does not return) until storage is back or StopIngesting.
  Status HandleMessage(const Message& message);
  // Notes that `stage` could not store; logs it at the start and once a minute.
  void StorageFailed(const char* stage, const Status& status);
  // Notes that storing works (again).
  void StorageRecovered();
  // Queues a sighting for recognition unless it is queued already or we stopped.
  void Enqueue(const std::string& id);
  // A worker thread's loop: recognises queued sightings until stopped.
  void Work(RecognitionStage& stage);
  // The refresher thread's loop: reloads the collection when it changed elsewhere.
  void RefreshCollection(std::chrono::milliseconds period);
  // Sets the gallery gauges from the collection.
  void ReportGallery();

  const BusConfig bus_config_;
  FaceCollection* const faces_;
  IngestStage ingest_;
  std::unique_ptr<VisitTracker> visits_;
  std::unique_ptr<Matcher> matcher_;
  std::unique_ptr<GalleryLearner> learner_;  // null when the gallery does not learn
  std::unique_ptr<FaceEngine> own_engine_;  // when ServerParts had no engine
  std::vector<std::unique_ptr<RecognitionStage>> stages_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_, refresh_cv_, retry_cv_;
  std::deque<std::string> queue_;
  std::set<std::string> queued_;  // in queue_ or being recognised
  size_t busy_ = 0;
  bool stopping_ = false;
  bool hurry_ = false;
  bool ingest_stopped_ = false;
  mutable std::mutex trouble_mu_;
  std::optional<std::chrono::steady_clock::time_point> trouble_since_;  // storage failing since
  std::chrono::steady_clock::time_point trouble_logged_;
  std::mutex stop_mu_;
  std::vector<std::thread> workers_;
  std::thread refresher_;

  std::atomic<uint64_t> recorded_{0}, duplicates_{0}, decided_{0}, failures_{0};
};

}  // namespace concierge
