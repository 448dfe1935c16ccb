//! Lcore ids and launching closures on worker lcores (pinned by the EAL), panics caught.

use std::fmt;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use dpdk_ffi as ffi;

use super::eal::{Eal, LcoreId};
use super::error::DpdkError;

type Job = Box<dyn FnOnce() + Send + 'static>;

struct LaunchSlot {
    job: Option<Job>,
    panicked: bool,
}

extern "C" fn lcore_trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the LaunchSlot leaked by `launch`, which stays alive until `join`
    // reclaims it after rte_eal_wait_lcore has returned; only this lcore touches it meanwhile.
    let slot = unsafe { &mut *(arg as *mut LaunchSlot) };
    let Some(job) = slot.job.take() else {
        return -1;
    };
    // A panic must not unwind across the C frame: catch it and report it through the slot.
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(()) => 0,
        Err(_) => {
            slot.panicked = true;
            -1
        }
    }
}

/// A job running on a worker lcore; [`LcoreJob::join`] waits for it.
pub struct LcoreJob<T> {
    lcore: LcoreId,
    slot: *mut LaunchSlot,
    result: Arc<std::sync::Mutex<Option<T>>>,
    joined: bool,
}

impl<T> fmt::Debug for LcoreJob<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LcoreJob({:?})", self.lcore)
    }
}

/// Why a job did not produce a value.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the job on {0:?} panicked")]
    Panicked(LcoreId),
}

/// Runs `f` on worker lcore `lcore` (pinned by the EAL).
pub fn launch<T, F>(_eal: &Eal, lcore: LcoreId, f: F) -> Result<LcoreJob<T>, DpdkError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let result = Arc::new(std::sync::Mutex::new(None));
    let out = result.clone();
    let job: Job = Box::new(move || {
        let v = f();
        if let Ok(mut g) = out.lock() {
            *g = Some(v);
        }
    });
    let slot = Box::into_raw(Box::new(LaunchSlot {
        job: Some(job),
        panicked: false,
    }));
    // SAFETY: the trampoline has the C signature DPDK expects and never unwinds; `slot` stays
    // valid until `join` (or Drop) has waited for the lcore.
    let rc =
        unsafe { ffi::rte_eal_remote_launch(Some(lcore_trampoline), slot as *mut c_void, lcore.0) };
    if rc != 0 {
        // SAFETY: the launch failed, so no lcore holds `slot`; reclaim it.
        drop(unsafe { Box::from_raw(slot) });
        return Err(DpdkError::from_errno("rte_eal_remote_launch", rc));
    }
    Ok(LcoreJob {
        lcore,
        slot,
        result,
        joined: false,
    })
}

impl<T> LcoreJob<T> {
    /// The lcore running the job.
    pub fn lcore(&self) -> LcoreId {
        self.lcore
    }

    fn wait(&mut self) -> bool {
        if self.joined {
            return false;
        }
        // SAFETY: the lcore was launched by us; waiting is allowed from the main lcore.
        unsafe { ffi::rte_eal_wait_lcore(self.lcore.0) };
        self.joined = true;
        // SAFETY: the lcore has finished, so nothing else references the slot; reclaim it once.
        let slot = unsafe { Box::from_raw(self.slot) };
        slot.panicked
    }

    /// Waits for the job and returns its value.
    pub fn join(mut self) -> Result<T, JoinError> {
        let panicked = self.wait();
        let value = self.result.lock().ok().and_then(|mut g| g.take());
        match value {
            Some(v) if !panicked => Ok(v),
            _ => Err(JoinError::Panicked(self.lcore)),
        }
    }
}

impl<T> Drop for LcoreJob<T> {
    fn drop(&mut self) {
        self.wait();
    }
}
