//! The allocator of the benchmark binaries (vbench and the nodes it starts, the TPC-C bench):
//! mimalloc, told to keep the memory it frees instead of returning it to the OS.
//!
//! Why: mimalloc gives freed pages back after a delay (1 s by default, `MADV_DONTNEED`). The
//! stores' tables grow by doubling and free the old arrays; given back, the next allocation faults
//! fresh pages in again, each zeroed by the kernel (2 MiB at a time where transparent huge pages
//! apply). On TPC-C that zeroing was a fifth of the serial New-Order path's time. Kept, the freed
//! arrays serve later allocations. A process's resident memory then never shrinks, which a
//! database node or a benchmark run does not mind. `MIMALLOC_PURGE_DELAY` in the environment
//! still wins, to measure the default.

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the crate's bindings name no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's default for it, read back to check that `PURGE_DELAY` names that option.
const DEFAULT_PURGE_DELAY_MS: std::ffi::c_long = 1_000;

/// Call first thing in `main`, before any thread starts. Returns whether the option was set.
pub fn keep_freed_memory() -> bool {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return false;
    }
    // SAFETY: reading and setting an option of the linked mimalloc; both take plain integers.
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) != DEFAULT_PURGE_DELAY_MS {
            return false; // another mimalloc version numbers its options differently
        }
        libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_it_sets_is_the_purge_delay() {
        // With no override in the environment, the option named holds mimalloc's default purge
        // delay; a renumbered option would make `keep_freed_memory` refuse instead.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert!(super::keep_freed_memory());
            // SAFETY: as above.
            assert_eq!(
                unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) },
                -1
            );
        }
    }
}
