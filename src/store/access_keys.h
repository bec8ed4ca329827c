// AWS-style access keys for the Rekognition-compatible API, kept in the
// AccountStore (so on PostgreSQL every server knows them). SigV4 needs the secret itself on every
// request, so it cannot be stored as a hash: it is encrypted with
// XChaCha20-Poly1305 under a key derived from aws.key_encryption_secret (the
// config file or CONCIERGE_AWS_KEY_ENCRYPTION_SECRET), with the access key id as
// associated data. A copy of the database alone yields no secret, and a
// ciphertext moved to another row does not decrypt.
//
// Thread-safe (the AccountStore is).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/account_store.h"

namespace concierge {

// The shortest aws.key_encryption_secret accepted (e.g. `openssl rand -hex 32`).
inline constexpr size_t kMinKeyEncryptionSecretBytes = 32;

// A key just created; the secret is shown once and stored only encrypted.
struct NewAccessKey {
  AccessKey key;
  std::string secret_access_key;  // 40 characters of base64
};

class AccessKeyStore {
 public:
  // Needs `accounts` to outlive the store and an encryption
  // secret of at least kMinKeyEncryptionSecretBytes; else kFailedPrecondition
  // saying how to set aws.key_encryption_secret.
  static Result<std::unique_ptr<AccessKeyStore>> Open(AccountStore* accounts,
                                                      const std::string& encryption_secret);
  ~AccessKeyStore();
  AccessKeyStore(const AccessKeyStore&) = delete;
  AccessKeyStore& operator=(const AccessKeyStore&) = delete;

  // Needs a name of 1..64 printable ASCII characters (kInvalidArgument).
  // Creates a random key and returns it with its secret.
  Result<NewAccessKey> Create(const std::string& name);
  // Every key, newest first, revoked ones included.
  Result<std::vector<AccessKey>> List() const;
  // Revokes a key at once; kNotFound when no such unrevoked key exists.
  Status Revoke(const std::string& id);
  // The secret of an unrevoked key and records its use. kNotFound for an
  // unknown or revoked key; kFailedPrecondition when the stored secret does
  // not decrypt (aws.key_encryption_secret changed since it was created).
  Result<std::string> SecretFor(const std::string& id);

 private:
  AccessKeyStore(AccountStore* accounts, const std::array<unsigned char, 32>& key);

  AccountStore* const accounts_;
  std::array<unsigned char, 32> key_;  // wiped on destruction
};

}  // namespace concierge
