//! DHCP needs a raw link socket, which pidone has on Linux only; a SmartOS
//! zone gets its addresses from the metadata service instead.

use std::time::Instant;

/// DHCP cannot be asked for here: the net stage says so at once.
pub const SUPPORTED: bool = false;

pub struct Packet;

impl Packet {
    pub fn open(_index: u32) -> std::io::Result<Packet> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "DHCP is not supported on this OS",
        ))
    }

    pub fn send(&self, _frame: &[u8]) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    pub fn recv(&self, _until: Instant, _buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}
