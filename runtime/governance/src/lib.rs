//! Governance: who may do what, and the record of what was done.
//!
//! A request's bearer token is hashed ([`token::token_hash`]) and looked up in the store
//! ([`GovernanceStore::token`]); the [`TokenRecord`] it finds holds [`Grants`]: roles, each
//! over a [`NamespacePattern`]. A route asks for a [`Role`] on a namespace and the grants say
//! yes or no. Every change made through the API or a trigger is appended to the audit log
//! ([`GovernanceStore::append_audit`]), a hash chain that [`audit::verify`] walks to find the
//! first entry altered, removed or reordered.
//!
//! The store keeps only a token's hash; the token itself is shown once, when it is made.

pub mod audit;
pub mod role;
mod store;
pub mod token;

pub use audit::{AuditEntry, AuditFilter, NewAuditEntry};
pub use role::{Grant, Grants, NamespacePattern, Role};
pub use store::GovernanceStore;
pub use token::{NewToken, TokenRecord};
