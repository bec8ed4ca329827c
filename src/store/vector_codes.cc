#include "store/vector_codes.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/vector_clones.h"

namespace concierge {
namespace {

float ScaleOf(const char* code, size_t dims) {
  float scale;
  std::memcpy(&scale, code + dims, sizeof scale);
  return scale;
}

const int8_t* Components(const char* code) { return reinterpret_cast<const int8_t*>(code); }

}  // namespace

void EncodeUnit(const float* unit, size_t dims, char* code) {
  float peak = 0;
  for (size_t i = 0; i < dims; ++i) peak = std::max(peak, std::abs(unit[i]));
  const float per_step = peak > 0 ? 127.f / peak : 0.f;
  auto* components = reinterpret_cast<int8_t*>(code);
  int64_t norm2 = 0;
  for (size_t i = 0; i < dims; ++i) {
    components[i] = static_cast<int8_t>(std::lround(unit[i] * per_step));
    norm2 += int64_t{components[i]} * components[i];
  }
  const float scale = norm2 > 0 ? static_cast<float>(1.0 / std::sqrt(double(norm2))) : 0.f;
  std::memcpy(code + dims, &scale, sizeof scale);
}

// Independent partial sums, as in FaceCollection's Dot: one running float
// sum may not be reordered, so it would not vectorise (6x slower).
CONCIERGE_VECTOR_CLONES float CodeDot(const char* code, const float* q, size_t dims) {
  const int8_t* c = Components(code);
  constexpr size_t kLanes = 16;
  float acc[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= dims; i += kLanes)
    for (size_t l = 0; l < kLanes; ++l) acc[l] += static_cast<float>(c[i + l]) * q[i + l];
  float sum = 0;
  for (; i < dims; ++i) sum += static_cast<float>(c[i]) * q[i];
  for (const float v : acc) sum += v;
  return sum * ScaleOf(code, dims);
}

CONCIERGE_VECTOR_CLONES float CodeCodeDot(const char* a, const char* b, size_t dims) {
  const int8_t* x = Components(a);
  const int8_t* y = Components(b);
  int32_t sum = 0;
  for (size_t i = 0; i < dims; ++i) sum += int32_t{x[i]} * y[i];
  return static_cast<float>(sum) * ScaleOf(a, dims) * ScaleOf(b, dims);
}

void DecodeUnit(const char* code, size_t dims, float* out) {
  const int8_t* c = Components(code);
  const float scale = ScaleOf(code, dims);
  for (size_t i = 0; i < dims; ++i) out[i] = static_cast<float>(c[i]) * scale;
}

}  // namespace concierge
