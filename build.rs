//! Records build facts shown by `osprey --version`: the DPDK version (pkg-config) and the git
//! revision. Fails with a fix-it message when DPDK's development files are missing.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let dpdk = match pkg_config::Config::new()
        .cargo_metadata(false)
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(lib) => lib.version,
        Err(e) => {
            eprintln!(
                "error: DPDK 22.11 or newer was not found through pkg-config: {e}\n\
                 fix: on Debian 12 run `sudo deploy/install-deps.sh` (installs dpdk-dev and \
                 libdpdk-dev), or point PKG_CONFIG_PATH at the directory holding libdpdk.pc."
            );
            std::process::exit(1);
        }
    };
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    println!("cargo:rustc-env=OSPREY_DPDK_VERSION={dpdk}");
    println!(
        "cargo:rustc-env=OSPREY_GIT_REV={rev}{}",
        if dirty { "-dirty" } else { "" }
    );
}
