// `concierge user add|list|remove` and `concierge token create|list|revoke`:
// web UI / API accounts from the shell (the first admin is created here).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "app/services.h"
#include "core/clock.h"
#include "http/auth.h"
#include "store/audit_log.h"

namespace concierge::cli {

namespace {

struct UserOptions {
  std::string name;
  std::string role = "viewer";
  bool password_stdin = false;
  std::string token_user;
  int64_t token_id = 0;
};

// Reads one line from stdin with the terminal echo turned off.
std::string ReadHiddenLine(const char* prompt) {
  std::cerr << prompt << std::flush;
  termios saved{};
  const bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  std::cerr << "\n";
  return line;
}

// The new password: the first line of stdin with --password-stdin, else
// asked twice on the terminal.
Result<std::string> ReadNewPassword(bool from_stdin) {
  if (from_stdin) {
    std::string line;
    if (!std::getline(std::cin, line)) return Status::InvalidArgument("no password on stdin");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  if (!isatty(STDIN_FILENO))
    return Status::InvalidArgument("stdin is not a terminal; pass --password-stdin");
  const std::string first = ReadHiddenLine("Password: ");
  if (ReadHiddenLine("Repeat password: ") != first)
    return Status::InvalidArgument("the passwords differ");
  return first;
}

// Runs `body(authenticator, audit)` over the stores opened with `access`.
template <typename Body>
int WithAuth(Context& ctx, Database::Access access, Body body) {
  auto config = ctx.config();
  if (!config.ok()) return Fail(ctx, config.status());
  Services services(**config, access);
  auto accounts = services.accounts();
  if (!accounts.ok()) return Fail(ctx, accounts.status());
  Authenticator auth(*accounts, (*config)->auth);
  auto audit = services.audit();
  if (!audit.ok()) return Fail(ctx, audit.status());
  return body(auth, **audit);
}

int RunUserAdd(Context& ctx, const UserOptions& o) {
  auto role = ParseRole(o.role);
  if (!role.ok()) return Fail(ctx, role.status());
  auto password = ReadNewPassword(o.password_stdin);
  if (!password.ok()) return Fail(ctx, password.status());
  return WithAuth(ctx, Database::Access::kReadWrite, [&](Authenticator& auth, AuditLog& audit) {
    auto user = auth.AddUser(o.name, *password, *role);
    if (!user.ok()) return Fail(ctx, user.status());
    AuditFromCli(audit, "user_add", "user:" + user->name);
    if (ctx.json()) PrintJson({{"name", user->name}, {"role", ToString(user->role)}});
    else std::printf("added %s user %s\n", ToString(user->role), user->name.c_str());
    return int(kExitOk);
  });
}

int RunUserList(Context& ctx) {
  return WithAuth(ctx, Database::Access::kReadOnly, [&](Authenticator& auth, AuditLog&) {
    auto users = auth.ListUsers();
    if (!users.ok()) return Fail(ctx, users.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& u : *users) {
      out.push_back({{"name", u.name}, {"role", ToString(u.role)},
                     {"created", FormatIsoUtc(u.created_ms)}});
      if (!ctx.json())
        std::printf("%-24s %-7s %s\n", u.name.c_str(), ToString(u.role),
                    FormatIsoUtc(u.created_ms).c_str());
    }
    if (ctx.json()) PrintJson({{"users", out}});
    return int(kExitOk);
  });
}

int RunUserRemove(Context& ctx, const UserOptions& o) {
  return WithAuth(ctx, Database::Access::kReadWrite, [&](Authenticator& auth, AuditLog& audit) {
    if (Status s = auth.RemoveUser(o.name); !s.ok()) return Fail(ctx, s);
    AuditFromCli(audit, "user_remove", "user:" + o.name);
    if (ctx.json()) PrintJson({{"removed", o.name}});
    else std::printf("removed user %s with their sessions and tokens\n", o.name.c_str());
    return int(kExitOk);
  });
}

int RunTokenCreate(Context& ctx, const UserOptions& o) {
  return WithAuth(ctx, Database::Access::kReadWrite, [&](Authenticator& auth, AuditLog& audit) {
    auto token = auth.CreateToken(o.name, o.token_user);
    if (!token.ok()) return Fail(ctx, token.status());
    AuditFromCli(audit, "token_create", "token:" + std::to_string(token->id));
    if (ctx.json()) {
      PrintJson({{"id", token->id}, {"name", token->name}, {"user", o.token_user},
                 {"token", token->token}});
    } else {
      std::printf("%s\n", token->token.c_str());
      std::fprintf(stderr, "token %lld for %s: shown once, store it now\n",
                   static_cast<long long>(token->id), o.token_user.c_str());
    }
    return int(kExitOk);
  });
}

int RunTokenList(Context& ctx) {
  return WithAuth(ctx, Database::Access::kReadOnly, [&](Authenticator& auth, AuditLog&) {
    auto tokens = auth.ListTokens();
    if (!tokens.ok()) return Fail(ctx, tokens.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : *tokens) {
      const char* state = t.revoked_ms ? "revoked" : "active";
      out.push_back({{"id", t.id}, {"name", t.name}, {"user", t.user}, {"state", state},
                     {"created", FormatIsoUtc(t.created_ms)},
                     {"last_used", OptionalTime(t.last_used_ms)}});
      if (!ctx.json())
        std::printf("%-6lld %-24s %-16s %-8s %s\n", static_cast<long long>(t.id), t.name.c_str(),
                    t.user.c_str(), state, FormatIsoUtc(t.created_ms).c_str());
    }
    if (ctx.json()) PrintJson({{"tokens", out}});
    return int(kExitOk);
  });
}

int RunTokenRevoke(Context& ctx, const UserOptions& o) {
  return WithAuth(ctx, Database::Access::kReadWrite, [&](Authenticator& auth, AuditLog& audit) {
    if (Status s = auth.RevokeToken(o.token_id); !s.ok()) return Fail(ctx, s);
    AuditFromCli(audit, "token_revoke", "token:" + std::to_string(o.token_id));
    if (ctx.json()) PrintJson({{"revoked", o.token_id}});
    else std::printf("revoked token %lld\n", static_cast<long long>(o.token_id));
    return int(kExitOk);
  });
}

}  // namespace

void RegisterUserCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static UserOptions o;
  CLI::App* user = app.add_subcommand("user", "Accounts for the web UI and the API");
  user->require_subcommand(1);
  CLI::App* add = AddCommand(*user, "add", "Add a user (the first admin is made this way)", slot,
                             [&ctx] { return RunUserAdd(ctx, o); });
  add->add_option("name", o.name, "User name")->required();
  add->add_option("--role", o.role, "admin or viewer")
      ->check(CLI::IsMember({"admin", "viewer"}));
  add->add_flag("--password-stdin", o.password_stdin,
                "Read the password from the first line of stdin instead of prompting");
  AddCommand(*user, "list", "List users", slot, [&ctx] { return RunUserList(ctx); });
  AddCommand(*user, "remove", "Remove a user with their sessions and tokens", slot,
             [&ctx] { return RunUserRemove(ctx, o); })
      ->add_option("name", o.name, "User name")->required();

  CLI::App* token = app.add_subcommand("token", "API tokens for scripts");
  token->require_subcommand(1);
  CLI::App* create = AddCommand(*token, "create", "Create a token; prints it once", slot,
                                [&ctx] { return RunTokenCreate(ctx, o); });
  create->add_option("name", o.name, "What the token is for")->required();
  create->add_option("--user", o.token_user, "The user the token acts as")->required();
  AddCommand(*token, "list", "List tokens (never their values)", slot,
             [&ctx] { return RunTokenList(ctx); });
  AddCommand(*token, "revoke", "Revoke a token", slot, [&ctx] { return RunTokenRevoke(ctx, o); })
      ->add_option("id", o.token_id, "Token id (from token list)")->required();
}

}  // namespace concierge::cli
