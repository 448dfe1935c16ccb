//! Generates the gRPC server and client code and the descriptor set served by reflection.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/osprey/v1/common.proto",
        "proto/osprey/v1/system.proto",
        "proto/osprey/v1/rules.proto",
        "proto/osprey/v1/alerts.proto",
        "proto/osprey/v1/flows.proto",
        "proto/osprey/v1/audit.proto",
        "proto/osprey/v1/blocks.proto",
        "proto/osprey/v1/incidents.proto",
        "proto/osprey/v1/outputs.proto",
        "proto/osprey/v1/playbooks.proto",
        "proto/osprey/v1/evidence.proto",
        "proto/osprey/v1/intel.proto",
        "proto/osprey/v1/reports.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("osprey_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
