//! Integration tests: the service and the mock broker over real sockets, driven like a browser.

mod harness;
mod slapd;

mod account;
mod browser;
mod callback;
mod cli;
mod connections;
mod directory;
mod directory_contract;
mod faults;
mod flow;
mod integrity;
mod limits;
mod logs;
mod pages;
mod redis;
mod replicas;
mod store;
mod wellknown;
