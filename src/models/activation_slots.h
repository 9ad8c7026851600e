// Where a model's layers keep what their forward pass leaves for the backward: one
// slot per layer when training, one slot all layers share in inference (nothing is kept
// then). The buffer only grows, so steady-state steps do not allocate.
#pragma once

#include <cstdint>
#include <vector>

namespace dlm {

// Lays out the slots of `slot` floats each in buf and calls fill(l, take) for every
// layer l, take(n) handing out the next n floats of l's slot (the caller's sizes must
// add up to at most `slot`).
template <class Fill>
void activation_slots_layout(std::vector<float>& buf, int64_t slot, int64_t layers, bool train, Fill fill) {
    const int64_t slots = train ? layers : 1;
    if (static_cast<int64_t>(buf.size()) < slot * slots) buf.resize(static_cast<size_t>(slot * slots));
    for (int64_t l = 0; l < layers; ++l) {
        float* p = buf.data() + (train ? l : 0) * slot;
        auto take = [&p](int64_t n) {
            float* r = p;
            p += n;
            return r;
        };
        fill(l, take);
    }
}

}  // namespace dlm
