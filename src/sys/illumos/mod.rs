//! illumos: a zone's init (filled in by the next commit).
