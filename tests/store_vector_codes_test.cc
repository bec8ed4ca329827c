// The 8-bit codes a large collection keeps its vectors in (store/vector_codes.h).
#include "store/vector_codes.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace concierge {
namespace {

std::vector<float> RandomUnit(std::mt19937& rng, size_t dims) {
  std::normal_distribution<float> normal;
  std::vector<float> v(dims);
  double norm2 = 0;
  for (auto& x : v) {
    x = normal(rng);
    norm2 += double(x) * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm2));
  return v;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Cosines of the decoded vectors stay close to the float ones, between
// strangers and between faces of one person alike; what the collection's
// documentation promises.
TEST(VectorCodes, DecodedCosinesStayCloseToTheFloatOnes) {
  for (const int dims : {128, 512}) {
    SCOPED_TRACE(dims);
    const size_t d = static_cast<size_t>(dims);
    std::mt19937 rng(static_cast<unsigned>(dims));
    std::vector<char> a_code(CodeBytes(d)), b_code(CodeBytes(d));
    std::vector<float> decoded(d);
    double total = 0, worst = 0;
    constexpr int kPairs = 4000;
    for (int i = 0; i < kPairs; ++i) {
      const std::vector<float> a = RandomUnit(rng, d);
      std::vector<float> b = RandomUnit(rng, d);
      if (i % 2) {  // the same person: cosine ~0.8
        for (size_t k = 0; k < b.size(); ++k) b[k] = a[k] + 0.7f * b[k];
        const double norm = std::sqrt(Dot(b, b));
        for (auto& x : b) x = static_cast<float>(x / norm);
      }
      EncodeUnit(a.data(), d, a_code.data());
      EncodeUnit(b.data(), d, b_code.data());
      const double exact = Dot(a, b);
      const double error = std::abs(CodeDot(a_code.data(), b.data(), d) - exact);
      total += error;
      worst = std::max(worst, error);
      EXPECT_NEAR(CodeCodeDot(a_code.data(), b_code.data(), d), exact, 8e-3);
      DecodeUnit(a_code.data(), d, decoded.data());
      EXPECT_NEAR(Dot(decoded, decoded), 1.0, 1e-5) << "a decoded vector has unit length";
      EXPECT_NEAR(Dot(decoded, b), CodeDot(a_code.data(), b.data(), d), 1e-5);
    }
    EXPECT_LT(total / kPairs, 5e-4);
    EXPECT_LT(worst, 4e-3);
  }
}

TEST(VectorCodes, AZeroVectorDecodesToZero) {
  const std::vector<float> zero(16, 0.f);
  std::vector<char> code(CodeBytes(16));
  EncodeUnit(zero.data(), 16, code.data());
  std::vector<float> decoded(16, 1.f);
  DecodeUnit(code.data(), 16, decoded.data());
  for (const float x : decoded) EXPECT_EQ(x, 0.f);
  EXPECT_EQ(CodeCodeDot(code.data(), code.data(), 16), 0.f);
}

}  // namespace
}  // namespace concierge
