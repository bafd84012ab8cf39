//! Build script: with the `ffi` feature, compiles the C shim (`src/shim.c`)
//! against the installed DPDK and links DPDK's shared libraries; without it,
//! does nothing: no pkg-config, no C compiler (default builds need no DPDK).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "ffi")]
    dpdk::build();
}

#[cfg(feature = "ffi")]
mod dpdk {
    use std::process::Command;

    /// Runs `pkg-config ARGS libdpdk` and returns its output split into words.
    ///
    /// DPDK's flags contain no quoted paths, so splitting on whitespace is exact.
    fn pkg_config(arg: &str) -> Vec<String> {
        let out = Command::new("pkg-config")
            .args([arg, "libdpdk"])
            .output()
            .unwrap_or_else(|e| panic!("streamcut-dpdk (feature `ffi`) needs pkg-config: {e}"));
        if !out.status.success() {
            panic!(
                "`pkg-config {arg} libdpdk` failed ({}): install DPDK \
                 (Debian: apt-get install libdpdk-dev pkg-config libpcap-dev)\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    pub fn build() {
        println!("cargo:rerun-if-changed=src/shim.c");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");

        // The full --cflags output, in order: besides include paths it carries
        // `-march=...` (the inlined fast path uses SSE intrinsics) and the
        // `-include rte_config.h` pair, which the pkg-config crate would drop.
        let mut build = cc::Build::new();
        build.file("src/shim.c").warnings(true).extra_warnings(true);
        for flag in pkg_config("--cflags") {
            build.flag(&flag);
        }
        build.compile("streamcut_dpdk_shim");

        // Shared libraries: EAL then loads every driver (net_pcap, net_tap,
        // NIC drivers, the mempool handler) from its plugin directory.
        for word in pkg_config("--libs") {
            if let Some(dir) = word.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={dir}");
            } else if let Some(lib) = word.strip_prefix("-l") {
                println!("cargo:rustc-link-lib=dylib={lib}");
            }
            // `-Wl,--as-needed` and similar: rustc already links as needed.
        }
    }
}
