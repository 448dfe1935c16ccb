//! DPDK's BPF engine (librte_bpf) running classic BPF capture filters: libpcap's compiled
//! program is converted to eBPF (`rte_bpf_convert`), loaded, and run over a frame by the
//! x86-64 JIT where `rte_bpf_get_jit` gives one, else by DPDK's interpreter. Two defects of
//! DPDK 22.11 are worked around in the shim: converted indirect loads (`tcp[13]`) are based
//! on the wrong register (fixed before loading), and the JIT miscompiles `jset` with a
//! one-byte mask (`tcp[tcpflags] & tcp-syn != 0`; such programs run in the interpreter).
//!
//! The conversion allocates from the EAL's heap, so loading takes the [`Eal`] guard; running
//! does not touch the EAL. The converted program reads packet bytes through an mbuf: the shim
//! presents each frame as a single-segment mbuf header on its stack, so any contiguous bytes
//! (a linearised chain, a test's vector) can be filtered.

use std::os::raw::c_void;
use std::ptr::NonNull;

use dpdk_ffi as ffi;

use super::eal::Eal;
use super::error::DpdkError;

/// One classic BPF instruction, as libpcap compiles it (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassicInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A loaded program: owned, destroyed on drop, immutable once loaded.
pub struct Bpf {
    raw: NonNull<ffi::rte_bpf>,
    /// The JIT's entry point; null: none on this CPU.
    jit: *mut c_void,
}

impl std::fmt::Debug for Bpf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bpf(jit: {})", self.has_jit())
    }
}

// SAFETY: a loaded program is never modified: rte_bpf_exec and the JIT code only read it and
// the context handed to them, so it may move to (and be used from) another thread.
unsafe impl Send for Bpf {}

impl Bpf {
    /// Converts and loads a classic program. Fails with DPDK's reason (`rte_errno`) when the
    /// conversion or the verifier refuses it or memory runs out.
    pub fn load_classic(_eal: &Eal, insns: &[ClassicInsn]) -> Result<Bpf, DpdkError> {
        let raw: Vec<ffi::osp_cbpf_insn> = insns
            .iter()
            .map(|i| ffi::osp_cbpf_insn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let len = u32::try_from(raw.len()).map_err(|_| DpdkError::Invalid {
            what: "BPF program",
            why: format!("{} instructions", raw.len()),
        })?;
        let mut jit_ok = 0;
        // SAFETY: `raw` holds `len` instructions and outlives the call (the conversion copies
        // them); `jit_ok` is a valid int to write; the EAL is initialised (we borrow its
        // guard), as rte_malloc needs.
        let p = unsafe { ffi::osp_bpf_load_cbpf(raw.as_ptr(), len, &mut jit_ok) };
        let raw = NonNull::new(p).ok_or_else(|| DpdkError::last("rte_bpf_load"))?;
        let jit = if jit_ok != 0 {
            // SAFETY: `raw` is a program rte_bpf_load just returned.
            unsafe { ffi::osp_bpf_jit(raw.as_ptr()) }
        } else {
            std::ptr::null_mut()
        };
        Ok(Bpf { raw, jit })
    }

    /// Whether the JIT compiled the program (x86-64 and arm64 have one) and runs it.
    pub fn has_jit(&self) -> bool {
        !self.jit.is_null()
    }

    /// Runs the program over `frame` with the JIT (the interpreter when there is none); true
    /// when it keeps the frame.
    #[inline]
    pub fn run_jit(&self, frame: &[u8]) -> bool {
        self.run(frame, self.jit)
    }

    /// Runs the program over `frame` in DPDK's interpreter; true when it keeps the frame.
    #[inline]
    pub fn run_interpreted(&self, frame: &[u8]) -> bool {
        self.run(frame, std::ptr::null_mut())
    }

    #[inline]
    fn run(&self, frame: &[u8], jit: *mut c_void) -> bool {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        // SAFETY: `raw` is a loaded program and `jit` null or its own JIT entry point; the
        // program reads at most `len` bytes of `frame` (the mbuf's bounds, checked by
        // rte_pktmbuf_read) and writes only its own stack.
        unsafe { ffi::osp_bpf_run_frame(self.raw.as_ptr(), jit, frame.as_ptr(), len) != 0 }
    }
}

impl Drop for Bpf {
    fn drop(&mut self) {
        // SAFETY: `raw` came from rte_bpf_load and is destroyed once, here; the JIT code goes
        // with it and `jit` is not used after.
        unsafe { ffi::rte_bpf_destroy(self.raw.as_ptr()) }
    }
}
