//! Builds a LinkGraph from arbitrary bytes, as an ELF object or an archive (every member).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Ok or Err; a panic or an abort is the failure libFuzzer reports.
    let _ = jitlink::image::build_graph("fuzz.o", data);
});
