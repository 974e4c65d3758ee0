//! Purser's domain: entities, rules, roles, money and identifiers.
//!
//! Nothing in this crate performs IO. Time and randomness come in as parameters so the
//! rules can be tested without sleeping.

pub mod api_key;
pub mod audit;
pub mod clock;
pub mod document;
pub mod event;
pub mod id;
pub mod model;
pub mod money;
pub mod org;
pub mod page;
pub mod policy;
pub mod session;
pub mod subscription;
pub mod usage;
pub mod user;
pub mod validation;
pub mod vault;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use id::{Id, IdGenerator};
pub use money::{TokenPrice, Usd};
pub use policy::{Action, Authorized, Denied, OrgAction, OrgDenied, PlatformRole, Principal, Standing};
pub use validation::{FieldError, Validator};
