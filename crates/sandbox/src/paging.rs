//! Pagination as Tallyfy's: `page` and `per_page` from the query, one page of a list, and the
//! `meta.pagination` envelope with its `next` link. No I/O.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::respond::reply;

/// The query of a list request.
#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    page: Option<String>,
    per_page: Option<String>,
    /// Search text (groups: name or description, ignoring case).
    pub(crate) q: Option<String>,
    /// Included resources (templates: `steps`).
    pub(crate) with: Option<String>,
    /// `only`: archived templates.
    pub(crate) archived: Option<String>,
    /// Group ids, comma-separated (processes, tasks).
    pub(crate) groups: Option<String>,
    /// Status (processes: `active`…; tasks: `incomplete`…).
    pub(crate) status: Option<String>,
}

/// Which slice of a list a page request asks for.
pub(crate) struct Window {
    per_page: usize,
    current: usize,
    /// Query parameters kept in the `next` link (the search).
    pub(crate) keep: String,
}

impl Window {
    /// The page `q` asks for, `default_per_page` items long unless it says (at most 100).
    pub(crate) fn new(q: &PageQuery, default_per_page: usize) -> Self {
        let per_page = q.per_page.as_deref().and_then(|p| p.parse::<usize>().ok()).filter(|&p| p > 0).unwrap_or(default_per_page).min(100);
        let current = q.page.as_deref().and_then(|p| p.parse::<usize>().ok()).filter(|&p| p > 0).unwrap_or(1);
        Window { per_page, current, keep: String::new() }
    }

    /// The index range of this page in a list of `total` items.
    pub(crate) fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.current - 1).saturating_mul(self.per_page).min(total);
        start..(start + self.per_page).min(total)
    }

    /// The `{"data": ..., "meta": {"pagination": ...}}` answer for one page.
    pub(crate) fn reply(&self, data: Vec<Value>, total: usize, path: &str) -> Response {
        self.reply_with_pages(data, total, total.div_ceil(self.per_page).max(1), path)
    }

    /// The same, saying the list has `total_pages` pages whatever its length.
    pub(crate) fn reply_with_pages(&self, data: Vec<Value>, total: usize, total_pages: usize, path: &str) -> Response {
        let links = if self.current < total_pages {
            json!({ "next": format!("{path}?{}page={}&per_page={}", self.keep, self.current + 1, self.per_page) })
        } else {
            json!([])
        };
        let count = data.len();
        reply(
            StatusCode::OK,
            json!({
                "data": data,
                "meta": { "pagination": {
                    "total": total, "count": count, "per_page": self.per_page,
                    "current_page": self.current, "total_pages": total_pages, "links": links,
                }},
            }),
        )
    }
}

/// One page of a list, converting only the items on it.
pub(crate) fn page<T: serde::Serialize>(items: &[T], q: &PageQuery, path: &str) -> Response {
    let w = Window::new(q, 10);
    let data = items[w.range(items.len())].iter().map(|i| serde_json::to_value(i).unwrap_or_default()).collect();
    w.reply(data, items.len(), path)
}
