// Data-parallel training over MPI ranks (`mpirun -np N dlm train ...`).
//
// Each rank runs the same training loop on its share of every step's micro-batches
// (a step's `batch` blocks are grad_accum x N micro-batches; micro-batch k goes to rank
// k % N; its masks and dropout stay keyed by (seed, step, k), so the data seen does not
// depend on N); the gradients are summed over the ranks (train/gradient_sync.h) before
// the same AdamW step everywhere. Rank 0 alone writes the output folder, the log and
// the progress bar.
//
// MPI is optional: a build without it (or a process not started by mpirun / srun) is
// one rank, and every call here is then a no-op.
#pragma once

#include <cstdint>

namespace dlm {

// Starts MPI when this process was launched by an MPI launcher (mpirun, srun), else
// does nothing; safe to call more than once. Throws dlm::Error for an MPI launch of a
// build without MPI.
void distributed_init();
// Ends MPI (at exit of the command that started it).
void distributed_finalize();
// Stops every rank of the job (after an error on this one); returns when there is none.
void distributed_abort(int code);

int distributed_rank();  // 0 without MPI
int distributed_size();  // 1 without MPI

// Sums a few doubles (losses, counts, a squared norm) over the ranks into every rank's
// x, adding the ranks' values in rank order (((x_0 + x_1) + x_2) + ...) whatever
// reduction MPI would choose, so the result is the same bits on every rank.
void distributed_sum_ordered(double* x, int64_t n);
// True on every rank when it is true on any (a stop request, a failed check).
bool distributed_any(bool flag);
void distributed_barrier();

}  // namespace dlm
