//! The Environment Abstraction Layer: started once per process, cleaned up (runtime files
//! included) when its guard drops.
//!
//! DPDK creates a runtime directory for every process (`/var/run/dpdk/<file-prefix>` as root),
//! even when it shares nothing through it (`--in-memory`, `--no-shconf`), and `rte_eal_cleanup`
//! leaves the directory behind. The guard removes it once DPDK is done, if it is empty: a
//! process started to share its memory with secondary processes keeps its files there, as
//! DPDK intends. A process killed before its guard drops cannot do that, so each start also
//! removes the empty directories of `osprey` processes that no longer run.

use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_ffi as ffi;

use super::error::{cstring, DpdkError};

/// DPDK's version string, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::osp_version()) }
        .to_string_lossy()
        .into_owned()
}

/// An EAL logical core id, shown as `lcore3`: the EAL lists its worker lcores
/// ([`Eal::worker_lcores`]), `lcore.rs` launches work on them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LcoreId(pub u32);

impl fmt::Debug for LcoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lcore{}", self.0)
    }
}

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// Set once `rte_eal_init` has returned successfully: DPDK no longer writes the runtime
/// directory's name, so another thread may read it.
static RUNTIME_DIR_SET: AtomicBool = AtomicBool::new(false);

/// The initialised Environment Abstraction Layer. One per process.
pub struct Eal {
    /// This process's runtime directory, removed after cleanup when DPDK left it empty.
    runtime_dir: Option<PathBuf>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for Eal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Eal")
    }
}

impl Eal {
    /// Initialises the EAL with `args` (without the program name). Fails if the EAL was
    /// initialised before in this process: DPDK cannot be re-initialised, even after cleanup.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialised);
        }
        let mut owned = vec![cstring("EAL argument", "osprey")?];
        for a in args {
            owned.push(cstring("EAL argument", a.as_ref())?);
        }
        // rte_eal_init may permute argv; give it a private array of pointers into `owned`.
        let mut argv: Vec<*mut std::os::raw::c_char> =
            owned.iter().map(|c| c.as_ptr() as *mut _).collect();
        let argc = argv.len() as c_int;
        // SAFETY: argv holds `argc` valid NUL-terminated strings that outlive the call (`owned`
        // lives to the end of this function and DPDK copies what it keeps). The EAL_STARTED
        // flag guarantees a single call per process.
        let rc = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            let e = DpdkError::last("rte_eal_init");
            // A failed start may have created the directory already.
            remove_if_empty(runtime_dir());
            return Err(e);
        }
        RUNTIME_DIR_SET.store(true, Ordering::Release);
        let runtime_dir = runtime_dir();
        if let Some(root) = runtime_dir.as_deref().and_then(std::path::Path::parent) {
            let swept = sweep_dead_runtime_dirs(root);
            if swept > 0 {
                tracing::info!(swept, root = %root.display(), "removed empty EAL runtime directories of processes that no longer run");
            }
        }
        Ok(Eal {
            runtime_dir,
            _not_send: std::marker::PhantomData,
        })
    }

    /// Number of lcores the EAL was started with (main included).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is initialised (we hold the guard).
        unsafe { ffi::rte_lcore_count() }
    }

    /// The worker lcores (every enabled lcore except the main one), in order.
    pub fn worker_lcores(&self) -> Vec<LcoreId> {
        let mut out = Vec::new();
        let mut id = u32::MAX; // rte_get_next_lcore(-1, ...) starts from the first lcore.
        loop {
            // SAFETY: the EAL is initialised; skip_main=1, wrap=0 walks enabled worker lcores.
            id = unsafe { ffi::rte_get_next_lcore(id, 1, 0) };
            if id >= ffi::RTE_MAX_LCORE {
                break;
            }
            out.push(LcoreId(id));
        }
        out
    }

    /// Cycles per second of the time-stamp counter.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is initialised.
        unsafe { ffi::rte_get_tsc_hz() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every pool, port and lcore job borrows or outlives nothing past the guard by
        // construction of the callers (they are dropped first); cleanup is called once.
        unsafe {
            ffi::rte_eal_cleanup();
        }
        remove_if_empty(self.runtime_dir.take());
    }
}

/// For a process about to exit without dropping its [`Eal`] (a second Ctrl-C): removes the
/// runtime directory if DPDK keeps nothing in it. A no-op until the EAL has started.
pub fn remove_empty_runtime_dir() {
    if RUNTIME_DIR_SET.load(Ordering::Acquire) {
        remove_if_empty(runtime_dir());
    }
}

/// The runtime directory DPDK chose for this process, once `rte_eal_init` has got that far.
fn runtime_dir() -> Option<PathBuf> {
    // SAFETY: rte_eal_get_runtime_dir returns a pointer to a static NUL-terminated buffer (empty
    // until the EAL sets it); it is copied out at once.
    let dir = unsafe { CStr::from_ptr(ffi::rte_eal_get_runtime_dir()) };
    let dir = dir.to_str().ok()?;
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Removes the empty runtime directories (`osprey-<pid>-<n>`) that processes which no longer
/// run left under `root`: a process killed before its guard dropped (SIGKILL, a crash) cannot
/// remove its own. Only empty directories of dead processes go; returns how many.
fn sweep_dead_runtime_dirs(root: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut swept = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(osprey_prefix_pid) else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid.to_string()).exists();
        if !alive && std::fs::remove_dir(e.path()).is_ok() {
            swept += 1;
        }
    }
    swept
}

/// The pid in a default runtime prefix, `osprey-<pid>-<n>` (see `runtime::EalConfig`).
fn osprey_prefix_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("osprey-")?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Removes `dir` if it exists and is empty; a directory still holding files is kept.
fn remove_if_empty(dir: Option<PathBuf>) {
    let Some(dir) = dir else { return };
    match std::fs::remove_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::debug!(dir = %dir.display(), "EAL runtime directory kept: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_their_pid() {
        assert_eq!(osprey_prefix_pid("osprey-5299-0"), Some(5299));
        assert_eq!(osprey_prefix_pid("osprey-5299-x"), None);
        assert_eq!(osprey_prefix_pid("rte"), None);
        assert_eq!(osprey_prefix_pid("osprey-lab"), None);
    }

    /// Empty directories of dead processes go; a live process's, a dead one's that still
    /// holds files (shared memory meant for secondaries) and other names stay.
    #[test]
    fn only_empty_directories_of_dead_processes_are_swept() {
        let root = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let dead = child.id();
        let live = std::process::id();
        for name in [
            format!("osprey-{dead}-0"),
            format!("osprey-{dead}-1"),
            format!("osprey-{live}-0"),
            "rte".to_string(),
        ] {
            std::fs::create_dir(root.path().join(name)).unwrap();
        }
        std::fs::write(root.path().join(format!("osprey-{dead}-1/config")), b"x").unwrap();
        assert_eq!(sweep_dead_runtime_dirs(root.path()), 1);
        let mut left: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!("osprey-{dead}-1"),
            format!("osprey-{live}-0"),
            "rte".to_string(),
        ];
        want.sort();
        assert_eq!(left, want);
    }
}
