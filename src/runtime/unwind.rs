//! Unwind registration: the `.eh_frame` section of a linked set is registered with the host
//! unwinder (libgcc's `__register_frame`) at finalize and deregistered on removal, so C++
//! exceptions and Rust panics unwind through linked frames.
//!
//! The section is registered as one object: its blocks (one per input) lie back to back and the
//! driver ends them with one zero-length terminator. Registering each input's block on its own
//! would break lookups, because libgcc keeps registered objects sorted by their lowest address
//! and stops at the first one that starts below the PC, while the inputs' code interleaves in
//! the set's layout (`.text` of every input, then `.text.unlikely` of every input, ...).

extern "C" {
    fn __register_frame(begin: *const u8);
    fn __deregister_frame(begin: *const u8);
}

/// Registered frames of one linked set; deregistered when dropped.
#[derive(Debug, Default)]
pub struct Registration {
    frames: Vec<u64>,
}

impl Registration {
    /// Registers the `.eh_frame` blocks at `addrs`.
    pub fn register(addrs: Vec<u64>) -> Self {
        for &a in &addrs {
            // SAFETY: `a` is a complete, zero-terminated .eh_frame block in the set's finalized
            // read-only memory, which stays mapped until this registration is dropped.
            unsafe { __register_frame(a as *const u8) };
        }
        Registration { frames: addrs }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        for &a in self.frames.iter().rev() {
            // SAFETY: `a` was registered by `register` and its memory is still mapped: the set
            // drops its registration before releasing its memory.
            unsafe { __deregister_frame(a as *const u8) };
        }
    }
}

/// Checks a fixed-up `.eh_frame` block at `addr` with gimli before it is registered: a
/// malformed one would crash the host unwinder the next time anything in the process unwinds
/// (libgcc parses every registered FDE header to sort them). Headers, augmentations and pointer
/// encodings are checked for every entry; call-frame instructions are decoded only for CIEs,
/// since an FDE's are read only when unwinding through its own function.
pub fn check(bytes: &[u8], addr: u64) -> Result<(), String> {
    use gimli::{BaseAddresses, CieOrFde, EhFrame, LittleEndian, UnwindSection};
    let eh = EhFrame::new(bytes, LittleEndian);
    let bases = BaseAddresses::default().set_eh_frame(addr);
    let mut entries = eh.entries(&bases);
    let mut count = 0usize;
    // CIEs already checked, by offset: an object's FDEs share one or two CIEs, which need not be
    // parsed again for each FDE.
    let mut cies = Vec::new();
    while let Some(entry) = entries
        .next()
        .map_err(|e| format!("eh_frame entry {count}: {e}"))?
    {
        match entry {
            CieOrFde::Cie(cie) => {
                let mut ins = cie.instructions(&eh, &bases);
                while ins
                    .next()
                    .map_err(|e| format!("eh_frame CIE {count}: {e}"))?
                    .is_some()
                {}
                cies.push(cie);
            }
            CieOrFde::Fde(partial) => {
                partial
                    .parse(
                        |eh, bases, o| match cies.iter().find(|c| c.offset() == o.0) {
                            Some(c) => Ok(c.clone()),
                            None => eh.cie_from_offset(bases, o),
                        },
                    )
                    .map_err(|e| format!("eh_frame FDE {count}: {e}"))?;
            }
        }
        count += 1;
    }
    Ok(())
}
