// `concierge aws-key create|list|revoke`: access keys for the
// Rekognition-compatible API (docs/rekognition.md). The secret is printed once
// and stored only encrypted with aws.key_encryption_secret.
#include <cstdio>

#include "cli/cli.h"
#include "app/services.h"
#include "core/clock.h"
#include "store/access_keys.h"
#include "store/audit_log.h"

namespace concierge::cli {

namespace {

struct AwsKeyOptions {
  std::string name = "default";
  std::string id;
};

// Runs `body(keys, audit)` over the stores opened with `access`.
template <typename Body>
int WithKeys(Context& ctx, Database::Access access, Body body) {
  auto config = ctx.config();
  if (!config.ok()) return Fail(ctx, config.status());
  Services services(**config, access);
  auto accounts = services.accounts();
  if (!accounts.ok()) return Fail(ctx, accounts.status());
  auto keys = AccessKeyStore::Open(*accounts, (*config)->aws.key_encryption_secret);
  if (!keys.ok()) return Fail(ctx, keys.status());
  auto audit = services.audit();
  if (!audit.ok()) return Fail(ctx, audit.status());
  return body(**keys, **audit);
}


int RunCreate(Context& ctx, const AwsKeyOptions& o) {
  return WithKeys(ctx, Database::Access::kReadWrite, [&](AccessKeyStore& keys, AuditLog& audit) {
    auto created = keys.Create(o.name);
    if (!created.ok()) return Fail(ctx, created.status());
    AuditFromCli(audit, "aws_key_create", "aws_key:" + created->key.id);
    if (ctx.json()) {
      PrintJson({{"access_key_id", created->key.id},
                 {"secret_access_key", created->secret_access_key},
                 {"name", created->key.name}});
    } else {
      std::printf("aws_access_key_id = %s\naws_secret_access_key = %s\n", created->key.id.c_str(),
                  created->secret_access_key.c_str());
      std::fprintf(stderr, "access key %s (%s): the secret is shown once, store it now\n",
                   created->key.id.c_str(), created->key.name.c_str());
    }
    return int(kExitOk);
  });
}

int RunList(Context& ctx) {
  return WithKeys(ctx, Database::Access::kReadOnly, [&](AccessKeyStore& keys, AuditLog&) {
    auto list = keys.List();
    if (!list.ok()) return Fail(ctx, list.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : *list) {
      const char* state = k.revoked_ms ? "revoked" : "active";
      out.push_back({{"access_key_id", k.id}, {"name", k.name}, {"state", state},
                     {"created", FormatIsoUtc(k.created_ms)},
                     {"last_used", OptionalTime(k.last_used_ms)},
                     {"revoked", OptionalTime(k.revoked_ms)}});
      if (!ctx.json())
        std::printf("%-20s %-24s %-8s %s\n", k.id.c_str(), k.name.c_str(), state,
                    FormatIsoUtc(k.created_ms).c_str());
    }
    if (ctx.json()) PrintJson({{"access_keys", out}});
    return int(kExitOk);
  });
}

int RunRevoke(Context& ctx, const AwsKeyOptions& o) {
  return WithKeys(ctx, Database::Access::kReadWrite, [&](AccessKeyStore& keys, AuditLog& audit) {
    if (Status s = keys.Revoke(o.id); !s.ok()) return Fail(ctx, s);
    AuditFromCli(audit, "aws_key_revoke", "aws_key:" + o.id);
    if (ctx.json()) PrintJson({{"revoked", o.id}});
    else std::printf("revoked access key %s\n", o.id.c_str());
    return int(kExitOk);
  });
}

}  // namespace

void RegisterAwsKeyCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static AwsKeyOptions o;
  CLI::App* key = app.add_subcommand("aws-key", "Access keys for the Rekognition-compatible API");
  key->require_subcommand(1);
  AddCommand(*key, "create", "Create an access key; prints its secret once", slot,
             [&ctx] { return RunCreate(ctx, o); })
      ->add_option("--name", o.name, "What the key is for (default \"default\")");
  AddCommand(*key, "list", "List access keys (never their secrets)", slot,
             [&ctx] { return RunList(ctx); });
  AddCommand(*key, "revoke", "Revoke an access key at once", slot,
             [&ctx] { return RunRevoke(ctx, o); })
      ->add_option("id", o.id, "Access key id (from aws-key list)")->required();
}

}  // namespace concierge::cli
