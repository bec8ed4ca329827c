#include "store/access_keys.h"

#include <sodium.h>

#include <algorithm>

#include "core/clock.h"

namespace concierge {

namespace {

constexpr char kIdPrefix[] = "AKCC";
constexpr size_t kIdRandomChars = 16;
constexpr size_t kSecretRandomBytes = 30;  // 40 base64 characters, like AWS secrets
constexpr size_t kMaxNameChars = 64;
constexpr int64_t kUseResolutionMs = 60'000;  // last_used_ms is written at most this often
// Domain separation: this key encrypts access key secrets and nothing else.
constexpr char kKeyContext[] = "concierge aws_access_keys v1";

std::string RandomBase32(size_t chars) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out(chars, 'A');
  for (char& c : out) c = kAlphabet[randombytes_uniform(32)];
  return out;
}

std::string RandomSecret() {
  unsigned char raw[kSecretRandomBytes];
  randombytes_buf(raw, sizeof(raw));
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_encoded_len(sizeof(raw), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), raw, sizeof(raw), variant);
  sodium_memzero(raw, sizeof(raw));
  out.resize(out.find('\0'));
  return out;
}

}  // namespace

Result<std::unique_ptr<AccessKeyStore>> AccessKeyStore::Open(AccountStore* accounts,
                                                             const std::string& encryption_secret) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  if (encryption_secret.size() < kMinKeyEncryptionSecretBytes)
    return Status::FailedPrecondition(
        "AWS access keys need aws.key_encryption_secret (at least " +
        std::to_string(kMinKeyEncryptionSecretBytes) +
        " characters, e.g. from `openssl rand -hex 32`) in the config file or "
        "CONCIERGE_AWS_KEY_ENCRYPTION_SECRET; it encrypts the secret access keys at rest");
  std::array<unsigned char, 32> key{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, key.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kKeyContext),
                            sizeof(kKeyContext));
  crypto_generichash_update(&state,
                            reinterpret_cast<const unsigned char*>(encryption_secret.data()),
                            encryption_secret.size());
  crypto_generichash_final(&state, key.data(), key.size());
  std::unique_ptr<AccessKeyStore> store(new AccessKeyStore(accounts, key));
  sodium_memzero(key.data(), key.size());
  return store;
}

AccessKeyStore::AccessKeyStore(AccountStore* accounts, const std::array<unsigned char, 32>& key)
    : accounts_(accounts), key_(key) {}

AccessKeyStore::~AccessKeyStore() { sodium_memzero(key_.data(), key_.size()); }

Result<NewAccessKey> AccessKeyStore::Create(const std::string& name) {
  const bool printable = std::all_of(name.begin(), name.end(),
                                     [](char c) { return c >= 0x20 && c < 0x7f; });
  if (name.empty() || name.size() > kMaxNameChars || !printable)
    return Status::InvalidArgument("an access key name must be 1 to 64 printable ASCII characters");
  NewAccessKey created;
  created.key.id = kIdPrefix + RandomBase32(kIdRandomChars);
  created.key.name = name;
  created.key.created_ms = NowMs();
  created.secret_access_key = RandomSecret();

  std::string box(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                      created.secret_access_key.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES,
                  '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(box.data());
  randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long sealed = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &sealed,
      reinterpret_cast<const unsigned char*>(created.secret_access_key.data()),
      created.secret_access_key.size(),
      reinterpret_cast<const unsigned char*>(created.key.id.data()), created.key.id.size(),
      nullptr, nonce, key_.data());
  box.resize(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + sealed);
  RETURN_IF_ERROR(accounts_->AddAccessKey(created.key, box));
  return created;
}

Result<std::vector<AccessKey>> AccessKeyStore::List() const {
  return accounts_->ListAccessKeys();
}

Status AccessKeyStore::Revoke(const std::string& id) {
  ASSIGN_OR_RETURN(const bool revoked, accounts_->RevokeAccessKey(id, NowMs()));
  if (!revoked) return Status::NotFound("no active access key '" + id + "'");
  return Status::Ok();
}

Result<std::string> AccessKeyStore::SecretFor(const std::string& id) {
  ASSIGN_OR_RETURN(const std::optional<SealedAccessKey> found, accounts_->FindAccessKey(id));
  if (!found) return Status::NotFound("no active access key with that id");
  const std::string& box = found->secret_box;
  constexpr size_t kOverhead =
      crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  std::string secret(box.size() > kOverhead ? box.size() - kOverhead : 0, '\0');
  unsigned long long opened = 0;
  const auto* nonce = reinterpret_cast<const unsigned char*>(box.data());
  if (box.size() <= kOverhead ||
      crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(secret.data()), &opened, nullptr,
          nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          box.size() - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          reinterpret_cast<const unsigned char*>(id.data()), id.size(), nonce, key_.data()) != 0)
    return Status::FailedPrecondition("the secret of access key " + id +
                                      " does not decrypt: aws.key_encryption_secret changed "
                                      "since it was created; create a new key");
  secret.resize(opened);
  const int64_t now = NowMs();
  if (now - found->last_used_ms >= kUseResolutionMs) {
    RETURN_IF_ERROR(accounts_->TouchAccessKey(id, now));
  }
  return secret;
}

}  // namespace concierge
