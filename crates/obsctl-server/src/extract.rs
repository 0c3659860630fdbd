//! JSON body and query extractors whose rejections are our JSON errors.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON object body. Every request body of the API is an object: serde would also fill a
/// struct from an array (`[]` as an empty request), which the schema does not allow.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) if v.is_object() => serde_json::from_value(v).map(Body).map_err(|e| {
                ApiError::invalid(format!("Failed to deserialize the JSON body into the target type: {e}"))
            }),
            Ok(_) => Err(ApiError::invalid("the body must be a JSON object, e.g. {\"reason\": \"…\"}")),
            Err(e) => Err(ApiError::invalid(e.body_text())),
        }
    }
}

pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(ApiError::invalid(e.body_text())),
        }
    }
}
