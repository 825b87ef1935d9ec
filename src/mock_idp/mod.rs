//! placeholder until the mock broker lands
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct MockIdpSettings {}
