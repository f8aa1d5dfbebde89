//! The zone's metadata service (SmartOS metadata protocol V2, V1): frames
//! (pure) and the client (I/O). What the values mean is `metadata::`'s.

pub mod client;
pub mod frame;
pub mod source;
pub mod zone;
