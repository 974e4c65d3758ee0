//! Documents kept in an organization's own database, each a name for one stored file;
//! a file's bytes are stored once per organization, found by their SHA-256.

use std::str::FromStr;

use crate::{Id, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: Id,
    pub name: String,
    pub mime_type: String,
    /// Of the bytes, hex: the file's identity within the organization.
    pub sha256: String,
    /// Of the bytes, hex: a checksum for clients, never an identity (collisions are easy).
    pub md5: String,
    pub size: u64,
    pub owner_id: Id,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The bytes behind documents, stored once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub md5: String,
    pub size: u64,
    /// Where the bytes are in blob storage.
    pub object_key: String,
    pub created_at: Timestamp,
    /// When the last document naming it went; `None` while one does.
    pub orphaned_at: Option<Timestamp>,
}

/// How a document list is ordered; ties go to the id, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DocumentSort {
    #[default]
    Newest,
    Oldest,
    NameAsc,
    NameDesc,
    Largest,
    Smallest,
}

impl DocumentSort {
    pub const ALL: [&str; 6] = ["-createdAt", "createdAt", "name", "-name", "-size", "size"];
}

impl FromStr for DocumentSort {
    type Err = String;

    /// `createdAt`, `name` or `size`, descending with a leading `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "-createdAt" => Self::Newest,
            "createdAt" => Self::Oldest,
            "name" => Self::NameAsc,
            "-name" => Self::NameDesc,
            "-size" => Self::Largest,
            "size" => Self::Smallest,
            _ => return Err(format!("must be one of {}", Self::ALL.join(", "))),
        })
    }
}

/// Which documents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentQuery {
    /// Case-insensitive text in the name.
    pub search: Option<String>,
    pub mime_type: Option<String>,
    pub sort: DocumentSort,
}

/// What an organization stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    pub documents: u64,
    pub files: u64,
    /// The stored files' bytes, each counted once.
    pub bytes_stored: u64,
    /// What storing each document's bytes again would have added.
    pub bytes_saved: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_are_read_from_their_names_and_nothing_else() {
        for name in DocumentSort::ALL {
            assert!(name.parse::<DocumentSort>().is_ok(), "{name}");
        }
        assert_eq!("-createdAt".parse(), Ok(DocumentSort::Newest));
        assert_eq!("-size".parse(), Ok(DocumentSort::Largest));
        for bad in ["", "created_at", "-", "name ", "NAME", "size;drop"] {
            assert!(bad.parse::<DocumentSort>().is_err(), "{bad:?}");
        }
    }
}
