//! OTLP/HTTP both ways: what applications send to obsctl's receiver (decoded with the
//! maintained protocol types of `opentelemetry-proto`: protobuf or JSON, gzip or not), when each
//! service last sent each signal (`Arrivals`), and the canary `obsctl telemetry check --flow`
//! sends to prove an app's telemetry arrives. obsctl records arrivals; it is not a trace store.

mod arrivals;
mod canary;
mod decode;

pub use arrivals::{Arrivals, MAX_SERVICES, ServiceArrivals, Sighting, SignalArrival};
pub use canary::{CANARY_ATTRIBUTE, Canary};
pub use decode::{Batch, DecodeError, Encoding, decode};
