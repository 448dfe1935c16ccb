//! Generates the gRPC server and client code and the descriptor set served by reflection.
//! Every message also derives serde with the proto's own (snake_case) field names: the console's
//! REST API speaks the same messages as JSON (`crate::web`), enums by name and bytes as base64.
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
        .message_attribute(
            ".osprey.v1",
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(default)]",
        )
        .field_attribute(
            ".osprey.v1.Diagnostic.severity",
            "#[serde(with = \"crate::web::json::severity\")]",
        )
        .field_attribute(
            ".osprey.v1.Alert.payload",
            "#[serde(with = \"crate::web::json::base64\")]",
        )
        .field_attribute(
            ".osprey.v1.ExportEvidenceResponse.content",
            "#[serde(with = \"crate::web::json::base64\")]",
        )
        .field_attribute(
            ".osprey.v1.ImportRequest.content",
            "#[serde(with = \"crate::web::json::base64\")]",
        )
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
