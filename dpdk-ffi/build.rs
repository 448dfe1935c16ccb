//! Finds the system DPDK with pkg-config, generates bindings with bindgen and compiles the shim.
//!
//! Override the search with `DPDK_PKG_CONFIG_PATH` (prepended to `PKG_CONFIG_PATH`) when DPDK
//! lives outside the default prefix.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=DPDK_PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    if let Ok(extra) = env::var("DPDK_PKG_CONFIG_PATH") {
        let old = env::var("PKG_CONFIG_PATH").unwrap_or_default();
        env::set_var("PKG_CONFIG_PATH", format!("{extra}:{old}"));
    }
    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!(
                "error: DPDK 22.11 development files were not found through pkg-config ({e}).\n\
                 On Debian 12 run `sudo deploy/install-deps.sh` (or `apt-get install dpdk-dev \
                 libdpdk-dev`); for a DPDK installed elsewhere set DPDK_PKG_CONFIG_PATH to the \
                 directory holding libdpdk.pc."
            );
            std::process::exit(1);
        }
    };
    println!("cargo:version={}", dpdk.version);

    println!("cargo:rustc-env=DPDK_FFI_VERSION={}", dpdk.version);

    // pkg-config's cflags carry `-include rte_config.h` and `-march=...`; pass them through to
    // both the shim and bindgen.
    let raw_cflags: Vec<String> = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();

    let mut build = cc::Build::new();
    build.file("shim/shim.c").warnings(false).opt_level(3);
    // rte_bpf_convert (classic BPF from libpcap → eBPF) is experimental in DPDK 22.11.
    build.define("ALLOW_EXPERIMENTAL_API", None);
    for p in &dpdk.include_paths {
        build.include(p);
    }
    let mut i = 0;
    while i < raw_cflags.len() {
        let f = &raw_cflags[i];
        if f == "-include" && i + 1 < raw_cflags.len() {
            build.flag("-include").flag(&raw_cflags[i + 1]);
            i += 2;
            continue;
        }
        if f.starts_with("-m") {
            build.flag(f);
        }
        i += 1;
    }
    build.compile("osprey_dpdk_shim");

    let mut clang_args: Vec<String> = dpdk
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .collect();
    clang_args.extend(raw_cflags.iter().filter(|f| !f.starts_with("-I")).cloned());
    clang_args.push("-DALLOW_EXPERIMENTAL_API".into());

    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&clang_args)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .allowlist_function("osp_.*")
        .allowlist_var("osp_.*")
        .allowlist_function("rte_eal_(init|cleanup|remote_launch|wait_lcore|mp_wait_lcore|process_type|has_hugepages|get_runtime_dir)")
        .allowlist_function("rte_lcore_(count|to_socket_id|index)")
        .allowlist_function("rte_get_(next_lcore|main_lcore|tsc_hz)")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_log_set_global_level")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
        .allowlist_function("rte_mbuf_dyn(field|flag)_lookup")
        .allowlist_function("rte_mbuf_dyn_rx_timestamp_register")
        .allowlist_function("rte_eth_dev_(configure|start|stop|close|info_get|count_avail|get_port_by_name|socket_id|rss_hash_update|get_name_by_port|is_valid_port)")
        .allowlist_function("rte_eth_(rx|tx)_queue_setup")
        .allowlist_function("rte_eth_(stats_get|stats_reset|xstats_get|xstats_get_names|link_get_nowait|macaddr_get|promiscuous_enable)")
        .allowlist_function("rte_ring_(create|free)")
        .allowlist_function("rte_vdev_(init|uninit)")
        .allowlist_function("rte_bpf_(destroy|exec)")
        .allowlist_var("RTE_ETH_.*")
        .allowlist_var("RTE_MBUF_.*")
        .allowlist_var("RTE_MAX_ETHPORTS")
        .allowlist_var("RTE_MAX_LCORE")
        .allowlist_var("RING_F_.*")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_var("RTE_LOG_.*")
        .allowlist_type("rte_eth_conf")
        .allowlist_type("rte_eth_dev_info")
        .allowlist_type("rte_eth_stats")
        .allowlist_type("rte_eth_xstat")
        .allowlist_type("rte_eth_xstat_name")
        .allowlist_type("rte_eth_link")
        .allowlist_type("rte_rmt_call_main_t")
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .generate()
        .unwrap_or_else(|e| {
            eprintln!("error: bindgen failed over the DPDK headers: {e}. Is libclang installed (apt-get install libclang-dev)?");
            std::process::exit(1);
        });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings");
}
