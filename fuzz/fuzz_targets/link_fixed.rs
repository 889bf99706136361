//! Links arbitrary bytes (an object or an archive) at a fixed base with no host symbols.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let inputs = [("fuzz.o".to_string(), data.to_vec())];
    let abs = [("abs_sym".to_string(), 0x1234_5678u64)];
    let _ = jitlink::image::link_at_base(&inputs, 0x40_0000, &abs);
});
