//! End-to-end tests of the mock broker over real sockets.
