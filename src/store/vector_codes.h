// Unit vectors in 8 bits per dimension, for collections too large to keep
// in float32 (FaceCollection with its HNSW index, AnnIndex): a quarter of
// the memory. A code is dims signed bytes, each component rounded to a step
// of the largest one / 127, then a float scale that makes codes x scale a
// unit vector. A decoded cosine differs from the float one by 2e-4 on
// average at 512-d, under 4e-3 at worst (tests/store_vector_codes_test.cc).
// Thread safety: pure functions.
#pragma once

#include <cstddef>

namespace concierge {

// Bytes of one code of `dims` components.
constexpr size_t CodeBytes(size_t dims) { return dims + sizeof(float); }

// Needs a unit (or zero) vector of `dims` floats and CodeBytes(dims) bytes at `code`.
void EncodeUnit(const float* unit, size_t dims, char* code);
// The decoded vector's dot product with `q` (dims floats).
float CodeDot(const char* code, const float* q, size_t dims);
// The dot product of two decoded vectors, in integer arithmetic.
float CodeCodeDot(const char* a, const char* b, size_t dims);
// Writes the decoded unit vector to `out` (dims floats).
void DecodeUnit(const char* code, size_t dims, float* out);

}  // namespace concierge
