#include "store/vector_codes.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

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

float CodeDot(const char* code, const float* q, size_t dims) {
  const int8_t* c = Components(code);
  float sum = 0;
  for (size_t i = 0; i < dims; ++i) sum += static_cast<float>(c[i]) * q[i];
  return sum * ScaleOf(code, dims);
}

float CodeCodeDot(const char* a, const char* b, size_t dims) {
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
