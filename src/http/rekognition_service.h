// The Rekognition operations on Concierge's face collections (the semantics
// behind POST / with X-Amz-Target: RekognitionService.<Operation>; the HTTP
// and SigV4 side is rekognition_routes.h). docs/rekognition.md lists the
// operations and every difference from AWS. In short:
//   - A CollectionId names a face collection. aws.office_collection_id is the
//     office's own (the cameras' recognition.collection); CreateCollection
//     makes others on the same database backend.
//   - Persons are users: UserId is the person id. IndexFaces with an
//     ExternalImageId files the faces under the person with that external id
//     (or id), creating them if needed; faces without one get an anonymous
//     person each (id prefix "aws-anonymous-"), which ListUsers leaves out.
//   - FaceId is stable (FaceIdForRow of the row it was first stored in, kept
//     in RekognitionStore when the face moves between persons).
//   - Similarity is SimilarityPercent of the primary model's cosine with the
//     office gallery's calibrated threshold (Matcher::calibration).
//
// Thread-safe: analysis runs in parallel; changes are serialised.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "core/config.h"
#include "core/types.h"
#include "http/aws_error.h"
#include "pipeline/matcher.h"
#include "store/face_collection.h"
#include "store/face_repository.h"
#include "store/object_store.h"
#include "store/rekognition_store.h"
#include "vision/face_engine.h"

namespace concierge {

// What the operations work on; all must outlive the service. `office`,
// `engine` and `objects` may be null: operations needing them then answer
// InternalServerError saying what is not running.
struct RekognitionParts {
  const Config* config = nullptr;
  RekognitionStore* store = nullptr;  // needed: the API's collections, FaceIds and kept answers
  // Opens the repository of the collection named, on the configured database
  // backend, for the collections CreateCollection makes. Empty: only the
  // office collection can be opened.
  FaceRepositoryOpener open_repository;
  FaceCollection* office = nullptr;
  FaceEngine* engine = nullptr;
  ObjectStore* objects = nullptr;
  Matcher* matcher = nullptr;  // the office's; its calibrated threshold is the one in force
};

class RekognitionService {
 public:
  // Needs config and store. Records the office collection (CreationTimestamp).
  explicit RekognitionService(RekognitionParts parts);

  // Needs an operation of AwsServiceModel::Rekognition() and an input that
  // passed its ValidateInput. Runs it and returns the output JSON, or the AWS
  // error. `region` (the caller's SigV4 region) goes into ARNs.
  AwsResult<nlohmann::json> Run(const std::string& operation, const nlohmann::json& input,
                                const std::string& region);

 private:
  using json = nlohmann::json;
  using CollectionPtr = std::shared_ptr<FaceCollection>;

  // An image read from Bytes or S3Object, decoded, and its faces found.
  struct Picture {
    cv::Mat image;
    std::string image_id;
    std::vector<Detection> faces;  // largest first, at most 100
  };
  // One face of a collection with everything its Face shape needs.
  struct FaceEntry {
    FaceRecord record;          // for search hits only id and person_id are set
    IndexedFace meta;           // as stored, or DefaultMeta for faces indexed elsewhere
    bool indexed_here = false;  // meta was stored by IndexFaces or a move
  };
  // Every face of a collection, by row and by FaceId.
  struct FaceIndex {
    std::map<int64_t, FaceEntry> rows;
    std::map<std::string, int64_t> uuids;
    // The row holding FaceId `uuid`, or nullopt.
    std::optional<int64_t> RowOf(const std::string& uuid) const;
  };

  // The collection `id`, or ResourceNotFoundException.
  AwsResult<CollectionPtr> Collection(const std::string& id);
  bool IsOffice(const std::string& id) const { return id == office_id_; }
  // Needs the engine (else InternalServerError). The Image of a request, with
  // AWS's errors for bad images and S3 objects.
  AwsResult<Picture> ReadPicture(const json& image);
  // Landmarks, quality and the embeddings `embed` asks for of one human face.
  AwsResult<FaceObservation> Describe(const Picture& picture, const Detection& face,
                                      EmbedWith embed);
  // The models of the face collections, primary first.
  AwsResult<std::vector<VectorSpace>> Spaces() const;
  // The primary model's vector of a face, empty if it has none.
  Embedding Primary(const Descriptor& embeddings) const;
  AwsResult<FaceIndex> AllFaces(const FaceCollection& c);
  // The Face shape: FaceId, BoundingBox, ImageId, Confidence,
  // IndexFacesModelVersion, and ExternalImageId and UserId when known.
  json FaceJson(const FaceCollection& c, const FaceEntry& face) const;
  AwsResult<json> FaceMatches(const FaceCollection& c, const Embedding& probe, int max_faces,
                              double threshold, int64_t exclude_row);
  AwsResult<json> UserMatches(const FaceCollection& c, const Embedding& probe, int max_users,
                              double threshold, const std::string& exclude_user);
  // Needs write_mu_. Moves a face to `person`, keeping its FaceId; returns its new row.
  AwsResult<int64_t> MoveFace(FaceCollection& c, const FaceEntry& face, const std::string& person);
  // Needs write_mu_. A new anonymous person's id.
  AwsResult<std::string> NewAnonymousPerson(FaceCollection& c);
  // Needs write_mu_. The person for an ExternalImageId, created when missing.
  AwsResult<std::string> PersonForExternalId(FaceCollection& c, const std::string& external_id);
  // Needs write_mu_. Removes an anonymous person left without faces.
  void DropIfEmptyAnonymous(FaceCollection& c, const std::string& person);
  // ResourceNotFoundException unless `user` is a user (a person, not anonymous) of `c`.
  std::optional<AwsError> MissingUser(const FaceCollection& c, const std::string& user) const;
  std::string UserStatus(const FaceCollection& c, const std::string& user) const;
  // The cosine threshold in force, which SimilarityPercent puts at 80.
  float MatchThreshold() const;
  std::string Arn(const std::string& region, const std::string& collection) const;
  // For one requested face of another user or of nobody: the person to move
  // it to ("" leaves it), or a refusal ({"UserId", "Reasons", ...}) to report.
  using FaceStep = std::function<AwsResult<std::string>(
      FaceCollection& c, const FaceIndex& index, const FaceEntry& face, const std::string& user,
      std::optional<json>* refusal)>;
  // Needs write_mu_. What AssociateFaces and DisassociateFaces share: the
  // collection and the existing user, then each FaceId in turn (unknown ones
  // FACE_NOT_FOUND, faces of other users ASSOCIATED_TO_A_DIFFERENT_USER, the
  // rest as `step` says), answered as {done_key, failed_key, UserStatus}.
  AwsResult<json> MoveUserFaces(const json& in, const char* done_key, const char* failed_key,
                                const FaceStep& step);
  // Needs write_mu_. Runs an operation with a ClientRequestToken once: a
  // retry with the same token and request gets the first answer.
  AwsResult<json> Idempotent(const std::string& operation, const json& input,
                             AwsResult<json> (RekognitionService::*op)(const json&));

  AwsResult<json> CreateCollection(const json& in, const std::string& region);
  AwsResult<json> DeleteCollection(const json& in);
  AwsResult<json> ListCollections(const json& in);
  AwsResult<json> DescribeCollection(const json& in, const std::string& region);
  AwsResult<json> IndexFaces(const json& in);
  AwsResult<json> ListFaces(const json& in);
  AwsResult<json> DeleteFaces(const json& in);
  AwsResult<json> SearchFaces(const json& in);
  AwsResult<json> SearchFacesByImage(const json& in);
  AwsResult<json> CreateUser(const json& in);
  AwsResult<json> DeleteUser(const json& in);
  AwsResult<json> ListUsers(const json& in);
  AwsResult<json> AssociateFaces(const json& in);
  AwsResult<json> DisassociateFaces(const json& in);
  AwsResult<json> SearchUsers(const json& in);
  AwsResult<json> SearchUsersByImage(const json& in);
  AwsResult<json> DetectFaces(const json& in);
  AwsResult<json> CompareFaces(const json& in);

  const RekognitionParts parts_;
  const std::string office_id_;
  const std::string model_version_;
  RekognitionStore& store_;
  std::mutex write_mu_;  // serialises every change to collections, persons and faces
  std::mutex open_mu_;   // guards open_
  std::map<std::string, CollectionPtr> open_;  // collections other than the office's
};

}  // namespace concierge
