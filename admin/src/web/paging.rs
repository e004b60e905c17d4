//! `?offset=&limit=` for long lists (accounts, forwarders, the queue), in
//! the pages and the JSON API alike. A list is read one page at a time
//! through the [`AdminApi`](crate::AdminApi), never whole; the API gives
//! the full length in the `X-Total-Count` header.

use serde::Deserialize;

/// Items on a page when the request names no limit.
pub const DEFAULT_LIMIT: usize = 50;

/// The largest page a request may ask for: keeps one response small
/// whatever the list's length.
pub const MAX_LIMIT: usize = 500;

/// The header that carries a paged list's full length.
pub const TOTAL_HEADER: &str = "X-Total-Count";

/// A page request, plus the search text of searchable lists.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    /// Items to skip.
    #[serde(default)]
    pub offset: usize,
    /// Items wanted; [`DEFAULT_LIMIT`] when absent, at most [`MAX_LIMIT`].
    pub limit: Option<usize>,
    /// Search text (lists that support it match names containing it).
    #[serde(default)]
    pub q: String,
}

impl Paging {
    /// The effective limit.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)
    }

    /// The query string of the page at `offset`, keeping limit and search.
    pub fn link(&self, base: &str, offset: usize) -> String {
        format!(
            "{base}?q={}&offset={offset}&limit={}",
            super::view::segment(&self.q),
            self.limit()
        )
    }

    /// The offset of the previous page, if any.
    pub fn previous(&self) -> Option<usize> {
        (self.offset > 0).then(|| self.offset.saturating_sub(self.limit()))
    }

    /// The offset of the next page, if `total` reaches past this one.
    pub fn next(&self, total: usize) -> Option<usize> {
        let next = self.offset + self.limit();
        (next < total).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_neighbours() {
        let p = Paging {
            offset: 50,
            limit: Some(10_000),
            q: String::new(),
        };
        assert_eq!(p.limit(), MAX_LIMIT);
        assert_eq!(p.previous(), Some(0));
        assert_eq!(p.next(600), Some(550));
        assert_eq!(p.next(550), None);
        assert_eq!(Paging::default().limit(), DEFAULT_LIMIT);
        assert_eq!(Paging::default().previous(), None);
    }
}
