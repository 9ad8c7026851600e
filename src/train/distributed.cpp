#include "train/distributed.h"

#include <cstdlib>
#include <vector>

#include "core/error.h"

#if defined(DLM_MPI)
#include <mpi.h>
#endif

namespace dlm {

namespace {

// Launchers set these in every rank's environment (OpenMPI's mpirun, PMI/PMIx: srun, MPICH).
[[maybe_unused]] bool launched_by_mpi() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
        if (std::getenv(v)) return true;
    return false;
}

[[maybe_unused]] bool g_started = false;
int g_rank = 0, g_size = 1;

}  // namespace

#if defined(DLM_MPI)

void distributed_init() {
    if (g_started || !launched_by_mpi()) return;
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_started = true;
}

void distributed_finalize() {
    if (!g_started) return;
    MPI_Finalize();
    g_started = false;
    g_rank = 0;
    g_size = 1;
}

void distributed_abort(int code) {
    if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

void distributed_sum_ordered(double* x, int64_t n) {
    if (g_size == 1) return;
    std::vector<double> all(static_cast<size_t>(n) * static_cast<size_t>(g_size));
    MPI_Allgather(x, static_cast<int>(n), MPI_DOUBLE, all.data(), static_cast<int>(n), MPI_DOUBLE, MPI_COMM_WORLD);
    for (int64_t i = 0; i < n; ++i) {
        double s = all[static_cast<size_t>(i)];
        for (int r = 1; r < g_size; ++r) s += all[static_cast<size_t>(r * n + i)];
        x[i] = s;
    }
}

bool distributed_any(bool flag) {
    if (g_size == 1) return flag;
    int in = flag ? 1 : 0, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return out != 0;
}

void distributed_barrier() {
    if (g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

#else  // built without MPI: one rank

void distributed_init() {
    if (launched_by_mpi())
        fail("started by an MPI launcher, but this dlm was built without MPI (install libopenmpi-dev and rebuild)");
}
void distributed_finalize() {}
void distributed_abort(int) {}
void distributed_sum_ordered(double*, int64_t) {}
bool distributed_any(bool flag) { return flag; }
void distributed_barrier() {}

#endif

int distributed_rank() { return g_rank; }
int distributed_size() { return g_size; }

}  // namespace dlm
