// What the Rekognition-compatible API keeps beside the face collections
// (tables of migration 7): which collections it created, what it told the
// caller about each face it indexed (FaceId, ImageId, ExternalImageId,
// bounding box, confidence), and the answers to requests that carried a
// ClientRequestToken so that a retry gets the same answer.
//
// Thread-safe (the Database serialises statements).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

class RekognitionStore {
 public:
  // Needs a migrated database that outlives the store.
  explicit RekognitionStore(Database* db) : db_(db) {}

  // Records a collection; kAlreadyExists when it is recorded already.
  Status AddCollection(const std::string& id, int64_t created_ms);
  // Records a collection unless it is recorded (then nothing changes).
  Status EnsureCollection(const std::string& id, int64_t created_ms);
  // The collection, or nullopt when it is not recorded.
  Result<std::optional<CollectionEntry>> GetCollection(const std::string& id) const;
  // Up to `limit` collections with ids after `after` ("" from the start), by id.
  Result<std::vector<CollectionEntry>> ListCollections(const std::string& after, int limit) const;
  // Forgets the collection and every IndexedFace of it (none is no error).
  Status RemoveCollection(const std::string& id);

  // Stores a face, replacing the one with the same face_uuid.
  Status PutFace(const IndexedFace& face);
  // The face handed out as `face_uuid` in `collection`, or nullopt.
  Result<std::optional<IndexedFace>> FaceByUuid(const std::string& collection,
                                                const std::string& face_uuid) const;
  // The face now held by row `face_id` of `collection`, or nullopt.
  Result<std::optional<IndexedFace>> FaceByRow(const std::string& collection,
                                               int64_t face_id) const;
  // Every face of `collection`, by row.
  Result<std::vector<IndexedFace>> FacesOf(const std::string& collection) const;
  // Every face indexed from image `image_id` in `collection`, oldest first.
  Result<std::vector<IndexedFace>> FacesOfImage(const std::string& collection,
                                                const std::string& image_id) const;
  // Forgets the face held by row `face_id` (none is no error).
  Status RemoveFaceRow(int64_t face_id);

  // The answer kept for (operation, token), or nullopt.
  Result<std::optional<StoredResponse>> FindResponse(const std::string& operation,
                                                     const std::string& token) const;
  // Keeps an answer; answers older than a day are dropped meanwhile.
  Status KeepResponse(const std::string& operation, const std::string& token,
                      const StoredResponse& response, int64_t now_ms);

 private:
  Database* const db_;
};

}  // namespace concierge
