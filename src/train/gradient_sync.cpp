#include "train/gradient_sync.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/error.h"
#include "train/distributed.h"

#if defined(DLM_MPI)
#include <mpi.h>
#endif

namespace dlm {

namespace {

// Times a communication call into `total`.
struct comm_timer {
    double& total;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    ~comm_timer() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

}  // namespace

#if defined(DLM_MPI)
struct GradientSync::requests {
    std::vector<MPI_Request> reduce;  // one per bucket
};
#else
struct GradientSync::requests {};
#endif

GradientSync::GradientSync(int64_t params, int64_t bucket_floats)
    : rank_(distributed_rank()), size_(distributed_size()), requests_(new requests) {
    DLM_ASSERT(bucket_floats > 0 && bucket_floats <= 0x7fffffff);
    if (size_ == 1) {
        owned_.push_back({0, params});
        return;
    }
    int64_t recv_total = 0;
    for (int64_t end = params; end > 0; end -= bucket_floats) {
        bucket b;
        b.begin = std::max<int64_t>(0, end - bucket_floats);
        b.end = end;
        const int64_t n = b.end - b.begin;
        for (int r = 0; r < size_; ++r) {
            const int64_t lo = n * r / size_, hi = n * (r + 1) / size_;
            b.displs.push_back(static_cast<int>(lo));
            b.counts.push_back(static_cast<int>(hi - lo));
        }
        b.recv_at = recv_total;
        recv_total += b.counts[rank_];
        if (b.counts[rank_] > 0) owned_.push_back({b.begin + b.displs[rank_], b.begin + b.displs[rank_] + b.counts[rank_]});
        buckets_.push_back(std::move(b));
    }
    std::sort(owned_.begin(), owned_.end(), [](const ParamRange& a, const ParamRange& b) { return a.begin < b.begin; });
    recv_.resize(static_cast<size_t>(recv_total));
#if defined(DLM_MPI)
    requests_->reduce.assign(buckets_.size(), MPI_REQUEST_NULL);
#endif
}

GradientSync::~GradientSync() { delete requests_; }

double GradientSync::comm_seconds_take() {
    const double s = comm_seconds_;
    comm_seconds_ = 0;
    return s;
}

#if defined(DLM_MPI)

void GradientSync::bucket_start(size_t i, float* grads) {
    const bucket& b = buckets_[i];
    MPI_Ireduce_scatter(grads + b.begin, recv_.data() + b.recv_at, b.counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                        &requests_->reduce[i]);
}

void GradientSync::grads_final(float* grads, int64_t offset) {
    if (size_ == 1) return;
    comm_timer timer{comm_seconds_};
    // Buckets run from the arena's end down: start those lying wholly at or above offset.
    while (buckets_started_ < static_cast<int64_t>(buckets_.size()) && buckets_[buckets_started_].begin >= offset)
        bucket_start(static_cast<size_t>(buckets_started_++), grads);
    // MPI moves non-blocking collectives forward only inside its calls: give it one.
    if (buckets_started_ > 0) {
        int done = 0;
        MPI_Testall(static_cast<int>(buckets_started_), requests_->reduce.data(), &done, MPI_STATUSES_IGNORE);
    }
}

void GradientSync::grads_reduce(float* grads) {
    if (size_ == 1) return;
    comm_timer timer{comm_seconds_};
    while (buckets_started_ < static_cast<int64_t>(buckets_.size()))
        bucket_start(static_cast<size_t>(buckets_started_++), grads);
    MPI_Waitall(static_cast<int>(buckets_.size()), requests_->reduce.data(), MPI_STATUSES_IGNORE);
    for (const bucket& b : buckets_) {
        std::memcpy(grads + b.begin + b.displs[rank_], recv_.data() + b.recv_at,
                    static_cast<size_t>(b.counts[rank_]) * sizeof(float));
    }
    buckets_started_ = 0;
}

void GradientSync::owned_allgather(float* x) {
    if (size_ == 1) return;
    comm_timer timer{comm_seconds_};
    std::vector<MPI_Request> reqs(buckets_.size(), MPI_REQUEST_NULL);
    for (size_t i = 0; i < buckets_.size(); ++i) {
        const bucket& b = buckets_[i];
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x + b.begin, b.counts.data(), b.displs.data(), MPI_FLOAT,
                        MPI_COMM_WORLD, &reqs[i]);
    }
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
}

void GradientSync::owned_gather_root(float* x) {
    if (size_ == 1) return;
    comm_timer timer{comm_seconds_};
    for (const bucket& b : buckets_) {
        if (rank_ == 0)
            MPI_Gatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x + b.begin, b.counts.data(), b.displs.data(), MPI_FLOAT, 0,
                        MPI_COMM_WORLD);
        else
            MPI_Gatherv(x + b.begin + b.displs[rank_], b.counts[rank_], MPI_FLOAT, nullptr, nullptr, nullptr, MPI_FLOAT,
                        0, MPI_COMM_WORLD);
    }
}

#else  // without MPI: one rank owns everything

void GradientSync::bucket_start(size_t, float*) {}
void GradientSync::grads_final(float*, int64_t) {}
void GradientSync::grads_reduce(float*) {}
void GradientSync::owned_allgather(float*) {}
void GradientSync::owned_gather_root(float*) {}

#endif

}  // namespace dlm
