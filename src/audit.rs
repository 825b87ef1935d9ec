//! Audit events.
