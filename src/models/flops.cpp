#include "models/flops.h"

namespace dlm {

double forward_flops(const ModelConfig& c, int64_t rows, int64_t seq, double head_rows) {
    const double C = static_cast<double>(c.hidden_size), F = static_cast<double>(c.intermediate_size);
    const double L = static_cast<double>(c.num_layers), V = static_cast<double>(c.vocab_size);
    const double tokens = static_cast<double>(rows) * static_cast<double>(seq);
    const double body = 2.0 * tokens * L * (4.0 * C * C + static_cast<double>(c.mlp_matrices) * C * F);
    const double attention = 2.0 * tokens * L * 2.0 * static_cast<double>(seq) * C;
    const double head = 2.0 * head_rows * ((c.is_causal() ? 0.0 : C * C) + C * V);
    return body + attention + head;
}

}  // namespace dlm
