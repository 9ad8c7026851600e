// Loss without gradients (evaluation): the same definition as Model::forward_backward
// (sum over target rows of weight * cross-entropy; weights nullptr = mean), with the
// logits computed only at target rows, a chunk at a time.
#pragma once

#include "models/model.h"

namespace dlm {

double model_loss(Model& model, const TrainInput& t);

}  // namespace dlm
