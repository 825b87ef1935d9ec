//! Integration tests: the service and the mock broker over real sockets, driven like a browser.

mod harness;

mod callback;
mod cli;
mod faults;
mod flow;
mod logs;
mod pages;
mod redis;
mod store;
mod wellknown;
