//! The QR login (§2): to come.
