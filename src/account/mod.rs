//! The account use cases, free of HTTP: who may use self-service, and which passwords are acceptable.

pub mod eligibility;
pub mod password;
