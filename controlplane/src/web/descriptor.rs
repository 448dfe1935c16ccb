//! The `osprey.v1` protobuf descriptors (`crate::proto::FILE_DESCRIPTOR_SET`, with the
//! protos' comments) indexed for the REST API: a route names only its gRPC method, and its
//! request and response messages, their fields' types, the method's summary and role and
//! the fields' documentation come from here. Decoded once, kept for the process, so every
//! name it hands out is `'static`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::FileDescriptorSet;

use crate::model::Role;

/// The package every service and message is in.
pub const PACKAGE: &str = "osprey.v1";

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    pub repeated: bool,
    /// For message and enum fields, the type's short name.
    pub type_name: String,
    /// The comment above it, on one line.
    pub doc: String,
}

/// One message.
#[derive(Debug, Default)]
pub struct MessageInfo {
    pub fields: Vec<Field>,
}

impl MessageInfo {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The repeated message field of a page (`{.., repeated X items, string
    /// next_page_token}`), if this message is one.
    pub fn page_items(&self) -> Option<&Field> {
        self.field("next_page_token")?;
        let mut repeated = self
            .fields
            .iter()
            .filter(|f| f.repeated && f.ty == Type::Message);
        let one = repeated.next()?;
        repeated.next().is_none().then_some(one)
    }
}

/// One method of a service.
#[derive(Debug)]
pub struct MethodInfo {
    /// `osprey.v1.RulesService/Get`.
    pub path: String,
    pub input: String,
    pub output: String,
    pub server_streaming: bool,
    pub client_streaming: bool,
    /// The comment above it, on one line.
    pub doc: String,
}

impl MethodInfo {
    /// The least role the comment names (`Role: operator.`), if it names one.
    pub fn role(&self) -> Option<Role> {
        let (_, rest) = self.doc.split_once("Role: ")?;
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        match word.as_str() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The comment without its `Role: ...` sentence.
    pub fn summary(&self) -> &str {
        self.doc
            .split_once(" Role: ")
            .map_or(self.doc.as_str(), |(s, _)| s)
            .trim()
    }
}

/// Everything the REST API reads from the descriptors.
#[derive(Debug, Default)]
pub struct Index {
    pub messages: BTreeMap<String, MessageInfo>,
    /// Every method of every service, in the protos' order.
    pub methods: Vec<MethodInfo>,
}

impl Index {
    pub fn method(&self, path: &str) -> Option<&MethodInfo> {
        self.methods.iter().find(|m| m.path == path)
    }

    pub fn message(&self, name: &str) -> Option<&MessageInfo> {
        self.messages.get(name)
    }
}

/// The index of `crate::proto::FILE_DESCRIPTOR_SET`.
pub fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .map(|set| build(&set))
            .unwrap_or_default()
    })
}

/// The short name of `.osprey.v1.Alert`.
fn short(type_name: &str) -> String {
    type_name.rsplit('.').next().unwrap_or("").to_owned()
}

/// A comment as one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn build(set: &FileDescriptorSet) -> Index {
    let mut index = Index::default();
    for file in set.file.iter().filter(|f| f.package() == PACKAGE) {
        let docs: BTreeMap<Vec<i32>, String> = file
            .source_code_info
            .iter()
            .flat_map(|s| s.location.iter())
            .filter_map(|l| Some((l.path.clone(), one_line(l.leading_comments.as_ref()?))))
            .collect();
        let doc = |path: &[i32]| docs.get(path).cloned().unwrap_or_default();
        for (mi, m) in file.message_type.iter().enumerate() {
            let fields = m
                .field
                .iter()
                .enumerate()
                .map(|(fi, f)| Field {
                    name: f.name().to_owned(),
                    ty: f.r#type(),
                    repeated: f.label() == Label::Repeated,
                    type_name: short(f.type_name()),
                    doc: doc(&[4, mi as i32, 2, fi as i32]),
                })
                .collect();
            index
                .messages
                .insert(m.name().to_owned(), MessageInfo { fields });
        }
        for (si, s) in file.service.iter().enumerate() {
            for (mi, m) in s.method.iter().enumerate() {
                index.methods.push(MethodInfo {
                    path: format!("{PACKAGE}.{}/{}", s.name(), m.name()),
                    input: short(m.input_type()),
                    output: short(m.output_type()),
                    server_streaming: m.server_streaming(),
                    client_streaming: m.client_streaming(),
                    doc: doc(&[6, si as i32, 2, mi as i32]),
                });
            }
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_messages_and_comments_are_indexed() {
        let i = index();
        let get = i.method("osprey.v1.RulesService/Get").unwrap();
        assert_eq!(
            (get.input.as_str(), get.output.as_str()),
            ("GetRuleRequest", "Rule")
        );
        let tail = i.method("osprey.v1.AlertsService/Tail").unwrap();
        assert!(tail.server_streaming);
        let rollback = i.method("osprey.v1.PlaybookService/Rollback").unwrap();
        assert_eq!(rollback.role(), Some(Role::Operator));
        assert!(rollback
            .summary()
            .starts_with("Removes the block-list entries"));
        assert!(!rollback.summary().contains("Role:"));
        let page = i
            .message("ListRulesResponse")
            .unwrap()
            .page_items()
            .unwrap();
        assert_eq!(
            (page.name.as_str(), page.type_name.as_str()),
            ("rules", "Rule")
        );
        assert!(i
            .message("ListFeedsResponse")
            .unwrap()
            .page_items()
            .is_none());
        let f = i
            .message("RelatedRequest")
            .unwrap()
            .field("window_secs")
            .unwrap();
        assert_eq!(f.ty, Type::Uint64);
        assert!(f.doc.contains("Seconds either side"));
    }
}
