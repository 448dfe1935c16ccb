//! serde helpers for the generated messages (attached in `build.rs`): enums as their proto
//! names, bytes as base64. Everything else serialises as prost generates it: snake_case
//! names, 64-bit integers as JSON numbers.

/// `Severity` fields (an `i32` in prost) as `"SEVERITY_ERROR"`; a number is accepted too.
pub mod severity {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::proto::Severity;

    pub fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
        match Severity::try_from(*v) {
            Ok(e) => s.serialize_str(e.as_str_name()),
            Err(_) => s.serialize_i32(*v),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NameOrNumber {
        Name(String),
        Number(i32),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        match NameOrNumber::deserialize(d)? {
            NameOrNumber::Number(n) => Ok(n),
            NameOrNumber::Name(t) => Severity::from_str_name(&t)
                .map(|e| e as i32)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown severity `{t}`"))),
        }
    }
}

/// `bytes` fields as standard base64 text.
pub mod base64 {
    use ::base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&::base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let t = String::deserialize(d)?;
        ::base64::engine::general_purpose::STANDARD
            .decode(t.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use crate::proto;

    #[test]
    fn messages_are_json_with_proto_names() {
        let d = proto::Diagnostic {
            severity: proto::Severity::Error as i32,
            line: 2,
            column: 5,
            message: "bad".into(),
            sid: 7,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["severity"], "SEVERITY_ERROR");
        assert_eq!(v["line"], 2);
        let back: proto::Diagnostic = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
        let a = proto::Alert {
            id: u64::MAX,
            payload: vec![0, 255],
            ..Default::default()
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["id"], u64::MAX);
        assert_eq!(v["payload"], "AP8=");
        assert_eq!(v["timestamp_ns"], 0);
        // Missing fields take their defaults.
        let q: proto::AlertQuery = serde_json::from_str(r#"{"sid":5}"#).unwrap();
        assert_eq!(q.sid, Some(5));
    }
}
