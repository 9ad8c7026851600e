// Model's default KV-cache entry points (declared in models/model.h): architectures
// that are not causal LMs (RoBERTa, BERT) have nothing to decode incrementally.
// Kept beside the decoder that calls them; Gpt2Model overrides them.
#include "core/error.h"
#include "models/model.h"

namespace dlm {

void Model::kv_cache_init(KvCache&, int64_t, int64_t) const {
    fail("{} has no KV cache: it is not a causal LM", config_.architecture);
}

void Model::forward_cached(KvCache&, const int32_t*, const int32_t*, int64_t) {
    fail("{} has no KV cache: it is not a causal LM", config_.architecture);
}

void Model::forward_cached_multi(std::span<KvCache* const>, const int32_t*, const int32_t*) {
    fail("{} has no KV cache: it is not a causal LM", config_.architecture);
}

}  // namespace dlm
