// The gradient exchange of data-parallel training (`mpirun -np N dlm train`), overlapped
// with the backward pass, and the optimizer sharding that comes with it (ZeRO-1's
// split of the optimizer work):
//
//   The parameter arena is cut into buckets of about `bucket_floats`, counted from its
//   end (the backward pass finishes the last layers' gradients first), and each bucket
//   into one contiguous chunk per rank. When the backward pass reports that every
//   gradient at offsets >= x is final (TrainInput::grads_final), the buckets above x
//   start a non-blocking reduce-scatter: rank r receives the sum over the ranks of its
//   chunks. After the step's backward pass each rank clips and applies AdamW to its
//   chunks only ("owned"), and the buckets' updated weights are gathered back, so all
//   ranks end the step with the same weights, bit for bit: each value is computed once,
//   by its owner.
//
// With one rank (or without MPI) the whole arena is owned and every call is a no-op.
#pragma once

#include <cstdint>
#include <vector>

#include "models/weights.h"

namespace dlm {

class GradientSync {
public:
    // params: floats in the arena. bucket_floats: 4 Mi floats (16 MB) by default, within
    // the 1-25 MB range PyTorch DDP and Horovod use: small enough to overlap, large
    // enough to keep the per-message cost small.
    explicit GradientSync(int64_t params, int64_t bucket_floats = int64_t{4} << 20);
    ~GradientSync();
    GradientSync(const GradientSync&) = delete;
    GradientSync& operator=(const GradientSync&) = delete;

    // The chunks whose gradient, optimizer state and update this rank owns.
    const std::vector<ParamRange>& owned() const { return owned_; }

    // Every gradient at offset >= `offset` of grads[params] is final for this step:
    // starts the exchange of the buckets above it, and lets the started ones progress.
    // grads must stay untouched above `offset` until grads_reduce returns.
    void grads_final(float* grads, int64_t offset);
    // Starts the rest, waits: the owned chunks of grads hold the sum over the ranks.
    void grads_reduce(float* grads);
    // Every rank's owned chunks of x[params] to every rank (the updated weights).
    void owned_allgather(float* x);
    // Every rank's owned chunks of x[params] to rank 0 (the optimizer state, for a
    // checkpoint); the other ranks' x is unchanged.
    void owned_gather_root(float* x);

    // Seconds spent in communication calls since the last call: the part of the
    // exchange that did not hide behind computation.
    double comm_seconds_take();

private:
    struct bucket {
        int64_t begin = 0, end = 0;
        std::vector<int> counts, displs;  // per rank: chunk length and offset from begin
        int64_t recv_at = 0;              // where this rank's reduced chunk lands in recv_
    };
    struct requests;  // the MPI requests in flight (gradient_sync.cpp)

    void bucket_start(size_t i, float* grads);
    int64_t buckets_started_ = 0;  // buckets_[0, buckets_started_) are in flight or done

    int rank_ = 0, size_ = 1;
    std::vector<bucket> buckets_;  // from the arena's end down
    std::vector<ParamRange> owned_;
    std::vector<float> recv_;  // this rank's reduced chunks, bucket after bucket
    requests* requests_ = nullptr;
    double comm_seconds_ = 0;
};

}  // namespace dlm
