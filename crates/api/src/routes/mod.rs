pub mod account;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod models;
pub mod subscriptions;
pub mod system;
pub mod usage;
