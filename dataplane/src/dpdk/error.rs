//! DPDK errors: the one place a C return code or `rte_errno` becomes a Rust error.

use std::ffi::{CStr, CString};
use std::os::raw::c_int;

use dpdk_ffi as ffi;

/// Errors from DPDK calls, with the call that failed and DPDK's own message.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("{call} failed: {message} (errno {errno})")]
    Call {
        call: &'static str,
        errno: i32,
        message: String,
    },
    #[error("the DPDK EAL is already initialised in this process")]
    AlreadyInitialised,
    #[error("invalid argument for {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("no ethernet device named {0:?} (check the --vdev / PCI arguments)")]
    NoSuchPort(String),
}

impl DpdkError {
    /// Builds an error from a (positive or negative) errno value.
    pub(super) fn from_errno(call: &'static str, errno: i32) -> Self {
        let errno = errno.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string for any errno value; we copy it out immediately.
        let message = unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        DpdkError::Call {
            call,
            errno,
            message,
        }
    }

    /// Builds an error from `rte_errno` after a call that signals failure by NULL or -1.
    pub(super) fn last(call: &'static str) -> Self {
        // SAFETY: osp_errno reads DPDK's per-lcore errno; no preconditions.
        let errno = unsafe { ffi::osp_errno() };
        Self::from_errno(call, errno)
    }
}

/// Maps a DPDK return code (negative errno on failure) to a result: the one place C return
/// codes become Rust errors.
pub(super) fn check(call: &'static str, rc: c_int) -> Result<c_int, DpdkError> {
    if rc < 0 {
        Err(DpdkError::from_errno(call, rc))
    } else {
        Ok(rc)
    }
}

pub(super) fn cstring(what: &'static str, s: &str) -> Result<CString, DpdkError> {
    CString::new(s).map_err(|_| DpdkError::Invalid {
        what,
        why: format!("{s:?} contains a NUL byte"),
    })
}
