//! LNbits (stub)
