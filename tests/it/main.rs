//! Integration tests: the service and the mock broker over real sockets, driven like a browser.

mod harness;
mod ports;
mod samba;
mod slapd;

mod account;
mod active_directory;
mod browser;
mod browser_helpdesk;
mod browser_requests;
mod callback;
mod cli;
mod codes;
mod connections;
mod deploy;
mod directory;
mod directory_contract;
mod failover;
mod faults;
mod flow;
mod helpdesk_pages;
mod helpdesk_sso;
mod integrity;
mod letters;
mod limits;
mod logs;
mod notify;
mod pages;
mod partial;
mod privileged_and_locked;
mod redis;
mod replicas;
mod requests;
mod shared_computer;
mod store;
mod wellknown;
