//! Admin rules (filled in below).
