//! Integration tests: one binary, one module per area. Each test starts
//! its own node on ephemeral loopback ports.

mod it {
    pub mod api_routes;
    pub mod cli;
    pub mod cli_client;
    pub mod cluster;
    pub mod imap;
    pub mod mailauth;
    pub mod pipe;
    pub mod pop3;
    pub mod relay;
    pub mod smtp;
    pub mod webadmin;
}
