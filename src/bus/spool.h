// The edge's outbox: messages are written to disk before they are sent, so a
// broker outage or a restart of the edge loses nothing.
//
// Layout: one file per message in the spool directory, named by a zero-padded,
// ever-increasing sequence number (00000000000000000042.msg), so order survives
// restarts. Each file is written to a temp name, fsynced, renamed and the
// directory fsynced. Leftover temp files (a crash mid-write, never acknowledged)
// are deleted on open; a file that cannot be parsed is renamed *.corrupt, a message
// the bus rejects as malformed *.rejected, and both are logged and kept for
// inspection. A `.lock` file (flock) keeps a second process out of the directory.
//
// When full the spool refuses new messages (kUnavailable) rather than evicting
// old ones: the oldest sightings are the record of who came in during the outage,
// and the caller can decide what to give up and say so.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.h"

namespace concierge {

struct SpoolEntry {
  uint64_t seq = 0;
  Message message;
};

// An on-disk FIFO. Append is safe from any thread; Front, Remove and Quarantine
// are meant for one consumer thread.
class Spool {
 public:
  // Needs a directory path (created if missing) and max_bytes > 0. Resumes any
  // entries left there. kFailedPrecondition if another Spool holds the directory.
  static Result<std::unique_ptr<Spool>> Open(const std::string& dir, int64_t max_bytes);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Stores `m` durably behind every earlier entry. kTooLarge if it alone exceeds
  // max_bytes, kUnavailable if the spool is full, kIoError on disk trouble.
  Status Append(const Message& m);
  // Up to `max_entries` oldest entries, oldest first. Unparseable files are
  // quarantined and skipped.
  Result<std::vector<SpoolEntry>> Front(size_t max_entries);
  // Deletes entry `seq` (not fsynced: after a crash it may be sent again).
  Status Remove(uint64_t seq);
  // Moves entry `seq` aside as *.rejected and logs `why`.
  Status Quarantine(uint64_t seq, const std::string& why);

  size_t size() const;    // entries waiting
  int64_t bytes() const;  // their size on disk

 private:
  struct Item {
    uint64_t seq;
    int64_t bytes;
  };
  Spool(std::string dir, int64_t max_bytes, int lock_fd);
  std::string PathOf(uint64_t seq) const;
  Status SetAside(uint64_t seq, const std::string& suffix);  // needs mu_ held

  const std::string dir_;
  const int64_t max_bytes_;
  const int lock_fd_;
  mutable std::mutex mu_;
  std::deque<Item> items_;
  int64_t bytes_ = 0;
  uint64_t next_seq_ = 1;
};

// Publishes through a Bus via a Spool: Publish stores, a background thread sends
// entries in order and deletes each only after Bus::Flush confirms it (broker ack).
// While sending fails it retries with exponential backoff from 100 ms to 5 s, and it
// never re-sends entries the bus still holds unacknowledged, so an outage adds no
// duplicates; a crash between ack and delete can (at-least-once).
class SpooledPublisher {
 public:
  // Needs a bus that outlives the publisher. Opens the spool at `dir` and starts
  // sending what it already holds.
  static Result<std::unique_ptr<SpooledPublisher>> Open(Bus* bus, const std::string& dir,
                                                        int64_t max_bytes);
  // Stops sending; whatever is unsent stays on disk for the next Open.
  ~SpooledPublisher();
  SpooledPublisher(const SpooledPublisher&) = delete;
  SpooledPublisher& operator=(const SpooledPublisher&) = delete;

  // Validates and stores `m`; OK means it is on disk and will be sent. Errors are
  // those of Spool::Append, or kInvalidArgument for a bad topic or qos.
  Status Publish(const Message& m);
  // Waits until the spool is empty; kUnavailable with the count left on timeout.
  Status Drain(std::chrono::milliseconds timeout);
  // Entries not yet acknowledged.
  size_t pending() const;

 private:
  SpooledPublisher(Bus* bus, std::unique_ptr<Spool> spool);
  void Run();
  // Sends the next window; returns the seqs handed to the bus and the first error.
  Status SendWindow(std::vector<uint64_t>& handed);

  Bus* const bus_;
  const std::unique_ptr<Spool> spool_;
  mutable std::mutex mu_;
  std::condition_variable wake_, drained_;
  bool stopping_ = false;
  std::thread sender_;
};

}  // namespace concierge
