//! Generates the gRPC server and client code and the descriptor set served by reflection.
//! Every message also derives serde with the proto's own (snake_case) field names: the console's
//! REST API speaks the same messages as JSON (`crate::web`), enums by name and every `bytes` field as base64.
/// `google.protobuf.FieldDescriptorProto.Type.TYPE_BYTES`.
const TYPE_BYTES: i32 = 12;

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
    // Read the protos first (this also writes the descriptor set reflection serves), so
    // that every `bytes` field gets base64 whatever proto adds it.
    let fds = tonic_prost_build::Config::new()
        .file_descriptor_set_path(out.join("osprey_descriptor.bin"))
        .load_fds(&protos, &["proto"])?;
    let mut build = tonic_prost_build::configure()
        .message_attribute(
            ".osprey.v1",
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(default)]",
        )
        .field_attribute(
            ".osprey.v1.Diagnostic.severity",
            "#[serde(with = \"crate::web::json::severity\")]",
        );
    for file in &fds.file {
        for m in &file.message_type {
            for f in m.field.iter().filter(|f| f.r#type() as i32 == TYPE_BYTES) {
                let path = format!(".{}.{}.{}", file.package(), m.name(), f.name());
                build =
                    build.field_attribute(path, "#[serde(with = \"crate::web::json::base64\")]");
            }
        }
    }
    build.compile_fds(fds)?;
    Ok(())
}
