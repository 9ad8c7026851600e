// An allocator for big buffers whose untouched parts should cost no memory.
//
// std::vector<T> writes every element when it is sized, so a 500 MB parameter arena is
// resident at once even if a bf16-only load never writes its fp32 matrices. With this
// allocator the memory comes from mmap (pages the kernel supplies already zeroed, and
// only when first touched) and sizing the vector default-initialises, i.e. does not
// write. Elements still read as 0 until written.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace dlm {

template <class T>
struct ZeroPageAllocator {
    using value_type = T;
    ZeroPageAllocator() = default;
    template <class U>
    ZeroPageAllocator(const ZeroPageAllocator<U>&) noexcept {}

    T* allocate(size_t n) {
        void* p = ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
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
    bool operator==(const ZeroPageAllocator<U>&) const noexcept { return true; }
};

}  // namespace dlm
