pub mod api_keys;
pub mod auth;
pub mod models;
pub mod subscriptions;
pub mod system;
pub mod usage;
