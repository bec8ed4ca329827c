// What the Rekognition-compatible API keeps beside the face collections:
// which collections it created, what it told the caller about each face it
// indexed (FaceId, ImageId, ExternalImageId, bounding box, confidence), and
// the answers to requests that carried a ClientRequestToken so that a retry
// gets the same answer (tables rekognition_collections, rekognition_faces,
// rekognition_requests). One interface, a SQLite and a PostgreSQL backend.
//
// With PostgreSQL several servers share one store: a collection created, a
// face indexed or an answer kept through one is seen by all, and two servers
// recording the same collection or face at once both succeed (the last
// PutFace wins).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "store/database.h"

namespace concierge {

// One face indexed through the API, as AWS describes it.
struct IndexedFace {
  std::string face_uuid;   // the FaceId handed out; stable when the face moves
  std::string collection;
  int64_t face_id = 0;     // the face collection's row holding it now
  std::string image_id;
  std::string external_image_id;  // "" when none was given
  float left = 0, top = 0, width = 0, height = 0;  // ratios of the image size
  float confidence = 0;    // 0..100
  int64_t created_ms = 0;
};

struct CollectionEntry {
  std::string id;
  int64_t created_ms = 0;
};

// An answer kept for a ClientRequestToken.
struct StoredResponse {
  std::string request_sha;  // of the request it answered
  std::string response;     // JSON
};

// How long an answer stays kept for its ClientRequestToken.
inline constexpr int64_t kRekognitionResponseTtlMs = 24LL * 3600 * 1000;

class RekognitionStore {
 public:
  virtual ~RekognitionStore() = default;

  // Records a collection; kAlreadyExists when it is recorded already.
  virtual Status AddCollection(const std::string& id, int64_t created_ms) = 0;
  // Records a collection unless it is recorded (then nothing changes).
  virtual Status EnsureCollection(const std::string& id, int64_t created_ms) = 0;
  // The collection, or nullopt when it is not recorded.
  virtual Result<std::optional<CollectionEntry>> GetCollection(const std::string& id) = 0;
  // Up to `limit` collections with ids after `after` ("" from the start), by
  // id in byte order.
  virtual Result<std::vector<CollectionEntry>> ListCollections(const std::string& after,
                                                               int limit) = 0;
  // Forgets the collection and every IndexedFace of it (none is no error).
  virtual Status RemoveCollection(const std::string& id) = 0;

  // Stores a face, replacing the one with the same face_uuid (and any other
  // record of the same face_id: a row holds one face).
  virtual Status PutFace(const IndexedFace& face) = 0;
  // The face handed out as `face_uuid` in `collection`, or nullopt.
  virtual Result<std::optional<IndexedFace>> FaceByUuid(const std::string& collection,
                                                        const std::string& face_uuid) = 0;
  // The face now held by row `face_id` of `collection`, or nullopt.
  virtual Result<std::optional<IndexedFace>> FaceByRow(const std::string& collection,
                                                       int64_t face_id) = 0;
  // Every face of `collection`, by row.
  virtual Result<std::vector<IndexedFace>> FacesOf(const std::string& collection) = 0;
  // Every face indexed from image `image_id` in `collection`, oldest first
  // (ties by face_uuid).
  virtual Result<std::vector<IndexedFace>> FacesOfImage(const std::string& collection,
                                                        const std::string& image_id) = 0;
  // Forgets the face held by row `face_id` (none is no error).
  virtual Status RemoveFaceRow(int64_t face_id) = 0;

  // The answer kept for (operation, token), or nullopt.
  virtual Result<std::optional<StoredResponse>> FindResponse(const std::string& operation,
                                                             const std::string& token) = 0;
  // Keeps an answer (replacing one kept for the same operation and token);
  // answers older than kRekognitionResponseTtlMs are dropped meanwhile.
  virtual Status KeepResponse(const std::string& operation, const std::string& token,
                              const StoredResponse& response, int64_t now_ms) = 0;

 protected:
  // For the backends, so both say it alike.
  static Status CollectionExists(const std::string& id);
};

// The SQLite backend (tables of migration 7); needs an open database
// (migrations applied) that outlives it.
std::unique_ptr<RekognitionStore> NewSqliteRekognitionStore(Database* db);

// The PostgreSQL backend: connects and applies its migrations (component
// "rekognition"), exactly once even when several servers start together.
// Errors as OpenPgSightingStore.
Result<std::unique_ptr<RekognitionStore>> OpenPgRekognitionStore(const std::string& url);

// The backend database.kind names; `sqlite` is used (and needed) for "sqlite".
Result<std::unique_ptr<RekognitionStore>> OpenRekognitionStore(const DatabaseConfig& config,
                                                               Database* sqlite);

}  // namespace concierge
