//! A router that remembers every (method, path) it serves, so tests can walk the whole HTTP
//! surface (the auth matrix) without a list that a new route could be missing from.

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;

use crate::AppState;

#[derive(Default)]
pub(crate) struct Routes {
    router: Router<AppState>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    /// Adds `handler` for `method` (`GET`, `POST`, `DELETE`) on `path`.
    pub fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let method_router: MethodRouter<AppState> = match method {
            "GET" => axum::routing::get(handler),
            "POST" => axum::routing::post(handler),
            "DELETE" => axum::routing::delete(handler),
            _ => axum::routing::any(handler),
        };
        self.router = self.router.route(path, method_router);
        self.table.push((method, path));
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("POST", path, handler)
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<(&'static str, &'static str)>) {
        (self.router, self.table)
    }
}
