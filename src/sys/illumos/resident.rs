//! Letting start-up pages go is tuned for Linux (its fault-around);
//! nothing is done here.

pub fn release_read_only() {}
