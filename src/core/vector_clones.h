// CONCIERGE_VECTOR_CLONES: put before a hot vector loop (dot products of
// embeddings) to compile it once per x86-64 level (AVX2 and the baseline)
// and pick the best at load time: the release build targets the baseline
// CPU, yet these loops run 2x faster with AVX2 where the box has it.
// GCC only; elsewhere (clang's sanitizer builds) it expands to nothing.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CONCIERGE_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CONCIERGE_VECTOR_CLONES
#endif
