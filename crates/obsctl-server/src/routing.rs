//! A router that remembers every (method, path) it serves, so tests can walk the whole HTTP
//! surface (the auth matrix) without a list that a new route could be missing from.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodFilter;

use crate::AppState;

#[derive(Default)]
pub(crate) struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl Routes {
    /// Adds `handler` for `method` on `path`: that method only, never any.
    pub fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let Ok(filter) = MethodFilter::try_from(method.clone()) else {
            // Only an extension method can get here; the auth matrix would miss the route.
            tracing::error!(%method, path, "this method cannot be routed; the route is left out");
            return self;
        };
        self.router = self.router.route(path, axum::routing::on(filter, handler));
        self.table.push((method, path));
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::GET, path, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::POST, path, handler)
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<(Method, &'static str)>) {
        (self.router, self.table)
    }
}
