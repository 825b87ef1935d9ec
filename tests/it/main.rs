//! Integration tests: the service and the mock broker over real sockets, driven like a browser.

mod harness;

mod account;
mod callback;
mod cli;
mod faults;
mod flow;
mod logs;
mod pages;
mod wellknown;
