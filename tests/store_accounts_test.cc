// Users, sessions and API tokens over each backend (one suite, SQLite and
// PostgreSQL), through the Authenticator as the HTTP server uses them. Each
// "server" opens the store anew on the same database, so with PostgreSQL this
// is what several servers rely on: a login or token made on one works on the
// others, and a logout, revocation or removal on one stops it on all; so does
// a Rekognition access key.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/hash.h"
#include "http/auth.h"
#include "store/access_keys.h"
#include "support/store_backend.h"

namespace concierge {
namespace {

constexpr char kPassword[] = "correct horse battery";

// One server's view: its own store connection and Authenticator.
struct Server {
  std::unique_ptr<AccountStore> accounts;
  std::unique_ptr<Authenticator> auth;
};

class AccountsTest : public testing::StoreBackendTest {
 protected:
  Server Open() {
    Server s;
    s.accounts = OpenAccounts();
    if (s.accounts) s.auth = std::make_unique<Authenticator>(s.accounts.get(), AuthConfig{});
    return s;
  }

  // The status Require answers for a GET with this session cookie or token.
  static int StatusOf(const Authenticator& auth, const std::string& cookie_session,
                    const std::string& token = "") {
    httplib::Request req;
    req.method = "GET";
    if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
    else req.headers.emplace("Cookie", std::string(kSessionCookie) + "=" + cookie_session);
    httplib::Response res;
    return auth.Require(req, res, Role::kViewer) ? 200 : res.status;
  }
};
CONCIERGE_ALL_STORE_BACKENDS(AccountsTest);

TEST_P(AccountsTest, ALoginMadeOnOneServerWorksOnAnotherUntilLogout) {
  Server a = Open();
  Server b = Open();
  ASSERT_TRUE(a.auth && b.auth);
  ASSERT_TRUE(a.auth->AddUser("ada", kPassword, Role::kAdmin).ok());

  auto login = b.auth->Login("ada", kPassword, "127.0.0.1");
  ASSERT_TRUE(login.ok()) << login.status().ToString();
  ASSERT_EQ(login->outcome, LoginResult::Outcome::kOk);
  const std::string session = login->session.session_id;
  EXPECT_EQ(StatusOf(*a.auth, session), 200);
  EXPECT_EQ(StatusOf(*b.auth, session), 200);

  ASSERT_TRUE(a.auth->Logout(Sha256Hex(session)).ok());
  EXPECT_EQ(StatusOf(*b.auth, session), 401);
  EXPECT_EQ(StatusOf(*a.auth, session), 401);
}

TEST_P(AccountsTest, FailedLoginsOnEveryServerCountTowardsTheRateLimit) {
  Server a = Open();
  Server b = Open();
  ASSERT_TRUE(a.auth && b.auth);
  ASSERT_TRUE(a.auth->AddUser("ada", kPassword, Role::kAdmin).ok());
  const int max_failures = AuthConfig{}.login_max_failures;
  // An attacker spreads guesses over both servers, each from its own address.
  for (int i = 0; i < max_failures; ++i) {
    Authenticator& auth = i % 2 == 0 ? *a.auth : *b.auth;
    auto guess = auth.Login("ada", "wrong password", "10.0.0." + std::to_string(i + 1));
    ASSERT_TRUE(guess.ok()) << guess.status().ToString();
    ASSERT_EQ(guess->outcome, LoginResult::Outcome::kBadCredentials) << "guess " << i;
  }
  // Every server now refuses that name, even with the right password ...
  for (Authenticator* auth : {a.auth.get(), b.auth.get()}) {
    auto limited = auth->Login("ada", kPassword, "10.0.1.1");
    ASSERT_TRUE(limited.ok()) << limited.status().ToString();
    EXPECT_EQ(limited->outcome, LoginResult::Outcome::kRateLimited);
    EXPECT_GT(limited->retry_after_s, 0);
    EXPECT_LE(limited->retry_after_s, AuthConfig{}.login_window_s);
  }
  // ... but another user is not held back by it.
  ASSERT_TRUE(a.auth->AddUser("bob", kPassword, Role::kViewer).ok());
  auto other = b.auth->Login("bob", kPassword, "10.0.1.2");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->outcome, LoginResult::Outcome::kOk);
}

TEST_P(AccountsTest, ATokenMadeOnOneServerWorksOnAnotherUntilRevoked) {
  Server a = Open();
  Server b = Open();
  ASSERT_TRUE(a.auth && b.auth);
  ASSERT_TRUE(a.auth->AddUser("ada", kPassword, Role::kAdmin).ok());
  auto token = a.auth->CreateToken("script", "ada");
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(StatusOf(*b.auth, "", token->token), 200);

  // An open event stream on server a asks again and hears of b's revocation.
  httplib::Request req;
  req.method = "GET";
  req.headers.emplace("Authorization", "Bearer " + token->token);
  httplib::Response res;
  auto principal = a.auth->Require(req, res, Role::kViewer);
  ASSERT_TRUE(principal);
  ASSERT_TRUE(b.auth->RevokeToken(token->id).ok());
  auto still = a.auth->StillValid(*principal);
  ASSERT_TRUE(still.ok());
  EXPECT_FALSE(*still);
  EXPECT_EQ(StatusOf(*a.auth, "", token->token), 401);
  EXPECT_EQ(b.auth->RevokeToken(token->id).code(), Status::Code::kNotFound);

  auto tokens = b.auth->ListTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ(tokens->front().user, "ada");
  EXPECT_GT(tokens->front().revoked_ms, 0);
  EXPECT_GT(tokens->front().last_used_ms, 0);  // recorded on first use
}

TEST_P(AccountsTest, RemovingAUserEndsTheirSessionsAndTokensEverywhere) {
  Server a = Open();
  Server b = Open();
  ASSERT_TRUE(a.auth && b.auth);
  ASSERT_TRUE(a.auth->AddUser("ada", kPassword, Role::kAdmin).ok());
  ASSERT_TRUE(a.auth->AddUser("vic", kPassword, Role::kViewer).ok());
  auto login = a.auth->Login("vic", kPassword, "127.0.0.1");
  ASSERT_TRUE(login.ok() && login->outcome == LoginResult::Outcome::kOk);
  auto token = a.auth->CreateToken("vic-script", "vic");
  ASSERT_TRUE(token.ok());

  ASSERT_TRUE(b.auth->RemoveUser("vic").ok());
  EXPECT_EQ(StatusOf(*a.auth, login->session.session_id), 401);
  EXPECT_EQ(StatusOf(*a.auth, "", token->token), 401);
  EXPECT_EQ(b.auth->RemoveUser("vic").code(), Status::Code::kNotFound);
  auto tokens = a.auth->ListTokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_TRUE(tokens->empty());
}

TEST_P(AccountsTest, NamesAreUniqueAndTokensNeedAUser) {
  Server a = Open();
  Server b = Open();
  ASSERT_TRUE(a.auth && b.auth);
  ASSERT_TRUE(a.auth->AddUser("ada", kPassword, Role::kAdmin).ok());
  const auto again = b.auth->AddUser("ada", kPassword, Role::kViewer);
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find("'ada'"), std::string::npos);
  EXPECT_EQ(b.auth->CreateToken("t", "nobody").status().code(), Status::Code::kNotFound);
  auto login = b.auth->Login("ada", "wrong password", "127.0.0.1");
  ASSERT_TRUE(login.ok());
  EXPECT_EQ(login->outcome, LoginResult::Outcome::kBadCredentials);
  auto users = b.auth->ListUsers();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ(users->front().name, "ada");
  EXPECT_EQ(users->front().role, Role::kAdmin);
}

TEST_P(AccountsTest, TwoServersRemovingTheLastTwoAdminsAtOnceLeaveOne) {
  Server a = Open();
  Server b = Open();
  ASSERT_TRUE(a.auth && b.auth);
  ASSERT_TRUE(a.auth->AddUser("ada", kPassword, Role::kAdmin).ok());
  ASSERT_TRUE(a.auth->AddUser("bob", kPassword, Role::kAdmin).ok());
  EXPECT_EQ(a.auth->RemoveUser("nobody").code(), Status::Code::kNotFound);

  std::atomic<int> removed{0}, refused{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] { (a.auth->RemoveUser("ada").ok() ? removed : refused)++; });
  threads.emplace_back([&] { (b.auth->RemoveUser("bob").ok() ? removed : refused)++; });
  for (auto& t : threads) t.join();
  EXPECT_EQ(removed.load(), 1);
  EXPECT_EQ(refused.load(), 1);
  auto users = a.auth->ListUsers();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ(users->front().role, Role::kAdmin);
  EXPECT_EQ(a.auth->RemoveUser(users->front().name).code(), Status::Code::kFailedPrecondition);
}

TEST_P(AccountsTest, AnAccessKeyMadeOnOneServerSignsOnAnotherUntilRevoked) {
  const std::string secret(32, 'k');
  Server a = Open();
  Server b = Open();
  ASSERT_TRUE(a.accounts && b.accounts);
  auto keys_a = AccessKeyStore::Open(a.accounts.get(), secret);
  auto keys_b = AccessKeyStore::Open(b.accounts.get(), secret);
  ASSERT_TRUE(keys_a.ok() && keys_b.ok());
  auto first = (*keys_a)->Create("doorman lambda");
  auto second = (*keys_a)->Create("backup");
  ASSERT_TRUE(first.ok() && second.ok());

  auto seen = (*keys_b)->SecretFor(first->key.id);
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(*seen, first->secret_access_key);
  auto listed = (*keys_b)->List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, second->key.id);  // newest first
  EXPECT_EQ((*listed)[1].name, "doorman lambda");
  EXPECT_GT((*listed)[1].last_used_ms, 0);

  ASSERT_TRUE((*keys_b)->Revoke(first->key.id).ok());
  EXPECT_EQ((*keys_a)->SecretFor(first->key.id).status().code(), Status::Code::kNotFound);
  EXPECT_EQ((*keys_a)->Revoke(first->key.id).code(), Status::Code::kNotFound);
  auto other_secret = AccessKeyStore::Open(b.accounts.get(), secret + "!");
  ASSERT_TRUE(other_secret.ok());
  EXPECT_EQ((*other_secret)->SecretFor(second->key.id).status().code(),
            Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace concierge
