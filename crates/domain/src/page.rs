//! Pagination: `?page=&limit=`, page counted from 1, limit 20 by default and 100 at most.

use crate::validation::FieldError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { page: 1, limit: DEFAULT_LIMIT }
    }
}

impl PageRequest {
    pub fn new(page: Option<u32>, limit: Option<u32>) -> Result<Self, Vec<FieldError>> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let mut errors = Vec::new();
        if page == 0 || page > 1_000_000 {
            errors.push(FieldError::new("page", "must be between 1 and 1000000"));
        }
        if limit == 0 || limit > MAX_LIMIT {
            errors.push(FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        if errors.is_empty() { Ok(Self { page, limit }) } else { Err(errors) }
    }

    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }
}

/// One page of results and the total number of matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: PageRequest,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), page: self.page, total: self.total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(PageRequest::new(None, None).unwrap(), PageRequest { page: 1, limit: 20 });
        assert_eq!(PageRequest::new(Some(3), Some(100)).unwrap().offset(), 200);
        let errors = PageRequest::new(Some(0), Some(101)).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].field, "limit");
    }
}
