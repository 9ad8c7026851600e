// An allocator for big buffers whose untouched parts should cost no memory.
//
// std::vector<T> writes every element when it is sized, so a 500 MB parameter arena is
// resident at once even if a bf16-only load never writes its fp32 matrices. With this
// allocator the memory comes from mmap (pages the kernel supplies already zeroed, and
// only when first touched) and sizing the vector default-initialises, i.e. does not
// write. Elements still read as 0 until written.
//
// HugePages = true asks buffers of 2 MB and more for transparent huge pages: a first
// touch then faults in 2 MB at once instead of 4 KB. Page faults are dear (about 8 us
// each under this project's virtual machines: writing 51 MB of fresh logits took 129 ms
// in 4 KB pages, 33 ms in huge pages, 28 ms when already resident). Not for buffers
// written sparsely: each touched 2 MB is then resident (the parameter arena's fp32
// biases between untouched matrices would cost 100 MB).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <vector>

namespace dlm {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

template <class T, bool HugePages = false>
struct ZeroPageAllocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = ZeroPageAllocator<U, HugePages>;
    };
    ZeroPageAllocator() = default;
    template <class U>
    ZeroPageAllocator(const ZeroPageAllocator<U, HugePages>&) noexcept {}

    T* allocate(size_t n) {
        void* p = ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        if (HugePages && n * sizeof(T) >= kHugePageBytes) ::madvise(p, n * sizeof(T), MADV_HUGEPAGE);  // advice: may be ignored
        return static_cast<T*>(p);
    }
    void deallocate(T* p, size_t n) noexcept { ::munmap(p, n * sizeof(T)); }

    // vector(n) and resize(n) construct with no arguments: leave the zero page alone.
    template <class U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(static_cast<Args&&>(args)...);
    }

    template <class U>
    bool operator==(const ZeroPageAllocator<U, HugePages>&) const noexcept { return true; }
};

// A vector of zero pages, in huge pages from 2 MB up: for big buffers written whole.
template <class T>
using HugePageVector = std::vector<T, ZeroPageAllocator<T, true>>;

}  // namespace dlm
