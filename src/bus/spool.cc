#include "bus/spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>

#include "bus/subscription_table.h"

namespace concierge {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[] = "CSPOOL1";
constexpr size_t kSeqDigits = 20;
constexpr size_t kWindow = 64;  // entries handed to the bus per Flush
constexpr auto kFlushTimeout = std::chrono::seconds(2);
constexpr auto kMinBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

std::string SeqName(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020" PRIu64, seq);
  return buf;
}

// The sequence number a spool file name starts with, or 0 when it has none.
uint64_t SeqOf(const std::string& name) {
  if (name.size() <= kSeqDigits) return 0;
  uint64_t seq = 0;
  for (size_t i = 0; i < kSeqDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    seq = seq * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return name[kSeqDigits] == '.' ? seq : 0;
}

std::string Header(const Message& m) {
  return std::string(kMagic) + " " + std::to_string(m.qos) + " " + std::to_string(m.topic.size()) +
         " " + std::to_string(m.payload.size()) + "\n";
}

Result<Message> Parse(const std::string& data) {
  const size_t eol = data.find('\n');
  if (eol == std::string::npos || eol > 64) return Status::InvalidArgument("no header line");
  char magic[16] = {};
  int qos = -1;
  size_t topic_len = 0, payload_len = 0;
  const std::string header = data.substr(0, eol);
  if (std::sscanf(header.c_str(), "%15s %d %zu %zu", magic, &qos, &topic_len, &payload_len) != 4 ||
      std::strcmp(magic, kMagic) != 0)
    return Status::InvalidArgument("bad header '" + header + "'");
  if (data.size() - eol - 1 != topic_len + payload_len)
    return Status::InvalidArgument("length mismatch (truncated file?)");
  Message m;
  m.qos = qos;
  m.topic = data.substr(eol + 1, topic_len);
  m.payload = data.substr(eol + 1 + topic_len);
  return m;
}

Status Errno(const std::string& what, const std::string& path) {
  return Status::IoError(what + " '" + path + "': " + std::strerror(errno));
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot write", path);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", dir);
  const int rc = fsync(fd);
  close(fd);
  return rc == 0 ? Status::Ok() : Errno("cannot fsync", dir);
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& dir, int64_t max_bytes) {
  if (max_bytes <= 0) return Status::InvalidArgument("spool max bytes must be > 0");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create spool dir '" + dir + "': " + ec.message());
  const std::string lock_path = (fs::path(dir) / ".lock").string();
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return Errno("cannot open", lock_path);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    close(lock_fd);
    return Status::FailedPrecondition("spool dir '" + dir + "' is in use by another publisher");
  }
  std::unique_ptr<Spool> spool(new Spool(dir, max_bytes, lock_fd));

  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const uint64_t seq = SeqOf(name);
    if (seq == 0) continue;
    spool->next_seq_ = std::max(spool->next_seq_, seq + 1);
    if (name.ends_with(".tmp")) {
      fs::remove(entry.path(), ec);  // a write that never completed, so never acknowledged
    } else if (name.size() == kSeqDigits + 4 && name.ends_with(".msg")) {
      const auto size = static_cast<int64_t>(entry.file_size(ec));
      spool->items_.push_back({seq, size});
      spool->bytes_ += size;
    }
  }
  if (ec) return Status::IoError("cannot list spool dir '" + dir + "': " + ec.message());
  std::sort(spool->items_.begin(), spool->items_.end(),
            [](const Item& a, const Item& b) { return a.seq < b.seq; });
  if (!spool->items_.empty())
    spdlog::info("spool: resuming {} messages ({} bytes) from {}", spool->items_.size(),
                 spool->bytes_, dir);
  return spool;
}

Spool::Spool(std::string dir, int64_t max_bytes, int lock_fd)
    : dir_(std::move(dir)), max_bytes_(max_bytes), lock_fd_(lock_fd) {}

Spool::~Spool() { close(lock_fd_); }

std::string Spool::PathOf(uint64_t seq) const {
  return (fs::path(dir_) / (SeqName(seq) + ".msg")).string();
}

Status Spool::Append(const Message& m) {
  const std::string header = Header(m);
  const auto size = static_cast<int64_t>(header.size() + m.topic.size() + m.payload.size());
  if (size > max_bytes_)
    return Status::TooLarge("message of " + std::to_string(size) + " bytes exceeds the spool (" +
                            std::to_string(max_bytes_) + " bytes)");
  std::lock_guard lock(mu_);
  if (bytes_ + size > max_bytes_)
    return Status::Unavailable("spool full: " + std::to_string(items_.size()) + " messages, " +
                               std::to_string(bytes_) + " of " + std::to_string(max_bytes_) +
                               " bytes await the broker");
  const uint64_t seq = next_seq_;
  const std::string path = PathOf(seq);
  const std::string tmp = (fs::path(dir_) / (SeqName(seq) + ".tmp")).string();
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  Status st = WriteAll(fd, header + m.topic + m.payload, tmp);
  if (st.ok() && fsync(fd) != 0) st = Errno("cannot fsync", tmp);
  close(fd);
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0) st = Errno("cannot rename", tmp);
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  RETURN_IF_ERROR(SyncDir(dir_));
  ++next_seq_;
  items_.push_back({seq, size});
  bytes_ += size;
  return Status::Ok();
}

Result<std::vector<SpoolEntry>> Spool::Front(size_t max_entries) {
  std::vector<uint64_t> seqs;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < items_.size() && i < max_entries; ++i) seqs.push_back(items_[i].seq);
  }
  std::vector<SpoolEntry> out;
  for (uint64_t seq : seqs) {
    const std::string path = PathOf(seq);
    std::ifstream in(path, std::ios::binary);
    if (!in && !fs::exists(path)) {
      spdlog::error("spool: {} vanished from disk; skipping it", path);
      RETURN_IF_ERROR(Remove(seq));
      continue;
    }
    if (!in) return Errno("cannot open", path);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return Errno("cannot read", path);
    auto parsed = Parse(data);
    if (!parsed.ok()) {
      spdlog::error("spool: {} is unreadable ({}); moved aside as .corrupt", path,
                    parsed.status().message());
      std::lock_guard lock(mu_);
      RETURN_IF_ERROR(SetAside(seq, ".corrupt"));
      continue;
    }
    out.push_back({seq, std::move(parsed).value()});
  }
  return out;
}

Status Spool::Remove(uint64_t seq) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(items_.begin(), items_.end(), [&](const Item& i) { return i.seq == seq; });
  if (it == items_.end()) return Status::NotFound("no spool entry " + std::to_string(seq));
  const std::string path = PathOf(seq);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot delete", path);
  bytes_ -= it->bytes;
  items_.erase(it);
  return Status::Ok();
}

Status Spool::Quarantine(uint64_t seq, const std::string& why) {
  spdlog::error("spool: message {} rejected ({}); moved aside as .rejected", PathOf(seq), why);
  std::lock_guard lock(mu_);
  return SetAside(seq, ".rejected");
}

Status Spool::SetAside(uint64_t seq, const std::string& suffix) {
  auto it = std::find_if(items_.begin(), items_.end(), [&](const Item& i) { return i.seq == seq; });
  if (it == items_.end()) return Status::NotFound("no spool entry " + std::to_string(seq));
  const std::string path = PathOf(seq);
  const std::string aside = (fs::path(dir_) / (SeqName(seq) + suffix)).string();
  if (rename(path.c_str(), aside.c_str()) != 0) return Errno("cannot rename", path);
  bytes_ -= it->bytes;
  items_.erase(it);
  return Status::Ok();
}

size_t Spool::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

int64_t Spool::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

Result<std::unique_ptr<SpooledPublisher>> SpooledPublisher::Open(Bus* bus, const std::string& dir,
                                                                 int64_t max_bytes) {
  if (bus == nullptr) return Status::InvalidArgument("SpooledPublisher needs a bus");
  ASSIGN_OR_RETURN(auto spool, Spool::Open(dir, max_bytes));
  return std::unique_ptr<SpooledPublisher>(new SpooledPublisher(bus, std::move(spool)));
}

SpooledPublisher::SpooledPublisher(Bus* bus, std::unique_ptr<Spool> spool)
    : bus_(bus), spool_(std::move(spool)), sender_([this] { Run(); }) {}

SpooledPublisher::~SpooledPublisher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  sender_.join();
}

Status SpooledPublisher::Publish(const Message& m) {
  RETURN_IF_ERROR(bus_internal::CheckPublishable(m));
  RETURN_IF_ERROR(spool_->Append(m));
  {
    std::lock_guard lock(mu_);  // pairs with the sender's wait so the wake-up is not lost
  }
  wake_.notify_one();
  return Status::Ok();
}

Status SpooledPublisher::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!drained_.wait_for(lock, timeout, [&] { return spool_->size() == 0; }))
    return Status::Unavailable(std::to_string(spool_->size()) + " spooled messages not yet sent");
  return Status::Ok();
}

size_t SpooledPublisher::pending() const { return spool_->size(); }

Status SpooledPublisher::SendWindow(std::vector<uint64_t>& handed) {
  ASSIGN_OR_RETURN(auto entries, spool_->Front(kWindow));
  for (const auto& e : entries) {
    const Status st = bus_->Publish(e.message);
    if (st.ok()) {
      handed.push_back(e.seq);
    } else if (st.code() == Status::Code::kInvalidArgument ||
               st.code() == Status::Code::kTooLarge) {
      RETURN_IF_ERROR(spool_->Quarantine(e.seq, st.ToString()));  // retrying cannot help
    } else {
      return st;
    }
  }
  return Status::Ok();
}

void SpooledPublisher::Run() {
  std::vector<uint64_t> handed;  // given to the bus, not yet acknowledged
  auto backoff = kMinBackoff;
  bool failing = false;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      if (handed.empty() && spool_->size() == 0) {
        wake_.wait(lock, [&] { return stopping_ || spool_->size() > 0; });
        continue;
      }
    }
    Status st = handed.empty() ? SendWindow(handed) : Status::Ok();
    if (!handed.empty()) {
      // Entries stay in the bus until acked, so a failed Flush is retried, never re-sent.
      const Status flushed = bus_->Flush(kFlushTimeout);
      if (flushed.ok()) {
        for (uint64_t seq : handed)
          if (Status removed = spool_->Remove(seq); !removed.ok())
            spdlog::error("spool: {}", removed.ToString());
        handed.clear();
        {
          std::lock_guard lock(mu_);  // pairs with Drain's wait so the wake-up is not lost
        }
        drained_.notify_all();
      } else if (st.ok()) {
        st = flushed;
      }
    }
    if (st.ok()) {
      if (failing) spdlog::info("spool: sending again; {} messages waiting", spool_->size());
      failing = false;
      backoff = kMinBackoff;
      continue;
    }
    if (!failing)
      spdlog::warn("spool: cannot send ({}); {} messages kept on disk, retrying",
                   st.ToString(), spool_->size());
    failing = true;
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace concierge
